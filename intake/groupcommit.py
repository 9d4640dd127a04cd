"""Group commit for the SMTP door: concurrent DATA commands share one transaction (R29).

A writer thread stores whatever messages finished DATA meanwhile with one
:func:`intake.store.store_raw_many` call, so concurrent senders share an fsync.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from concurrent.futures import Future
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from intake.store import Incoming, Stored, store_one, store_raw_many


class GroupCommit:
    """Group commit for the SMTP door: a writer thread stores whatever DATA commands finished
    meanwhile in one transaction, so concurrent senders share an fsync. Each waits for its own
    result (R29: 250 only after commit); a failing batch is retried one by one, so one bad
    message never costs the others their 250.

    ``writers`` threads share the queue: on PostgreSQL a second writer sends its batch while the
    first waits for the server (round trips, the WAL flush); the unique index keeps a message
    stored once even when two writers hold copies of it. SQLite has one writer at a time: one
    thread. Each writer keeps its own connection (no pool check-out, and no pre-ping round trip
    on PostgreSQL, per batch) and replaces it after a failure.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        spool: Path | None = None,
        max_batch: int = 64,
        writers: int = 1,
    ) -> None:
        self.sessions = sessions
        self.spool = spool
        self.max_batch = max_batch
        self._queue: queue.Queue[tuple[list[Incoming], Future[list[Stored]]] | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._run, name=f"group-commit-{n}", daemon=True)
            for n in range(writers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, items: list[Incoming]) -> Future[list[Stored]]:
        future: Future[list[Stored]] = Future()
        self._queue.put((items, future))
        return future

    def close(self) -> None:
        self._queue.put(None)  # each writer passes it on to the next, then ends
        for thread in self._threads:
            thread.join(30)

    def _run(self) -> None:
        writer = _Writer(self.sessions.kw["bind"])
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    self._queue.put(None)
                    return
                batch = [first]
                while len(batch) < self.max_batch:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._queue.put(None)
                        break
                    batch.append(more)
                self._commit(batch, writer)
        finally:
            writer.drop()

    def _commit(
        self, batch: list[tuple[list[Incoming], Future[list[Stored]]]], writer: _Writer
    ) -> None:
        items = [item for request, _ in batch for item in request]
        try:
            stored = store_raw_many(self.sessions, items, self.spool, writer.connection())
        except Exception:  # noqa: BLE001 - each request is tried alone: its own answer
            writer.drop()  # it may be the broken part (the database restarted)
            for request, future in batch:
                try:
                    future.set_result([store_one(self.sessions, i, self.spool) for i in request])
                except Exception as exc:  # noqa: BLE001 - that sender gets 451
                    future.set_exception(exc)
            return
        position = 0
        for request, future in batch:
            future.set_result(stored[position : position + len(request)])
            position += len(request)


class _Writer:
    """A group-commit thread's own connection, taken when first needed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.held: Connection | None = None

    def connection(self) -> Connection:
        if self.held is None:
            self.held = self.engine.connect()
        return self.held

    def drop(self) -> None:
        if self.held is not None:
            with contextlib.suppress(Exception):
                self.held.close()
            self.held = None
