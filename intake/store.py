"""Commit #1: the raw bytes, before anything can fail (R29, DESIGN principle 2).

Every door calls :func:`store_raw` and answers (SMTP 250, IMAP flag) only after it returned. A
message seen twice is stored once: by its source key (IMAP UIDVALIDITY+UID) or by Message-ID plus
content hash (an SMTP client that retries after a lost 250, the same mail fetched twice).
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import re
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from intake.models import RawMessage, RawState
from intake.spool import SPOOL_THRESHOLD, SpooledData, spool_bytes

_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(<[^<>\s]{1,900}>)", re.IGNORECASE | re.MULTILINE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass(frozen=True)
class Stored:
    id: int
    duplicate: bool


def header_message_id(data: bytes) -> str | None:
    """The Message-ID, read from the header block only (cheap: no full parse before commit)."""
    end = _HEADER_END.search(data)
    match = _MESSAGE_ID.search(data, 0, end.start() if end else len(data))
    return match.group(1).decode("ascii", "replace") if match else None


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store_raw(
    sessions: sessionmaker[Session],
    data: bytes,
    *,
    channel: str,
    profile: str | None = None,
    envelope_from: str | None = None,
    envelope_to: list[str] | None = None,
    source_key: str | None = None,
    spool: Path | None = None,
) -> Stored:
    """Store and commit the raw message; return its id (or the id of the copy already stored)."""
    item = Incoming(data, source_key, channel, profile, envelope_from, tuple(envelope_to or ()))
    return store_raw_many(sessions, [item], spool)[0]


@dataclass(frozen=True)
class Incoming:
    """One message of a batch for :func:`store_raw_many`: its bytes, or the spool file the
    SMTP door wrote while it arrived."""

    data: bytes | SpooledData
    source_key: str | None = None
    channel: str = "smtp"
    profile: str | None = None
    envelope_from: str | None = None
    envelope_to: tuple[str, ...] = ()


def _prepare(item: Incoming, spool: Path | None) -> tuple[bytes | None, str | None, str, int]:
    """(bytes for the row, spool file name, digest, size): large messages go to the spool, and
    their file is durable before the row naming it is committed."""
    data = item.data
    if isinstance(data, bytes) and spool is not None and len(data) > SPOOL_THRESHOLD:
        data = spool_bytes(spool, data)
    if isinstance(data, SpooledData):
        return None, data.finish(), data.digest, data.size
    return data, None, content_hash(data), len(data)


def _head(item: Incoming) -> bytes:
    return item.data.head if isinstance(item.data, SpooledData) else item.data


@contextlib.contextmanager
def _transaction(sessions: sessionmaker[Session], held: Connection | None) -> Iterator[Connection]:
    """A transaction on the caller's connection (the group-commit thread keeps one: no pool
    check-out and no PostgreSQL pre-ping round trip per batch), or on one from the pool."""
    if held is None:
        with sessions.kw["bind"].begin() as connection:
            yield connection
    else:
        with held.begin():
            yield held


def store_raw_many(
    sessions: sessionmaker[Session],
    items: list[Incoming],
    spool: Path | None = None,
    connection: Connection | None = None,
) -> list[Stored]:
    """Store a batch in one transaction: one commit, one fsync (an IMAP fetch of 50, or the SMTP
    sessions that finished DATA at the same moment).

    All or nothing: callers answer or mark only after this returns. Should a concurrent writer
    have stored one of them meanwhile (a unique source key, or the same Message-ID, content and
    profile), the batch is stored one by one instead, which finds those copies. Core statements,
    prebuilt: this is the acceptance path. Messages over the spool threshold are kept in files
    under ``spool`` (when given).
    """
    prepared = [_prepare(item, spool) for item in items]  # file I/O before the write lock
    message_ids = [header_message_id(_head(item)) for item in items]
    now = datetime.now(UTC)
    rows = [
        _row(item, message_id, ready, now)
        for item, message_id, ready in zip(items, message_ids, prepared, strict=True)
    ]
    if all(row["profile"] is not None or row["message_id"] is None for row in rows):
        # Copies are rare: insert at once (one statement, no look-up round trip first); the
        # unique indexes refuse a copy already stored, and only then do we look.
        try:
            with _transaction(sessions, connection) as writing:
                return [Stored(row_id, False) for (row_id,) in writing.execute(_INSERT_RAW, rows)]
        except IntegrityError:
            pass  # a copy is stored already, or twice in this batch: look first, below
    try:
        # A Core connection, not an ORM session: less Python while the write turn is held (and
        # while the SMTP door's event loop waits for the GIL to send its replies).
        with _transaction(sessions, connection) as writing:
            # Three statements for the whole batch (look-ups, one multi-row INSERT): the write
            # lock is held for as short a time as the batch allows.
            known = _known(writing, items, prepared)
            results: list[Stored | None] = []
            fresh_rows: list[dict] = []
            for item, row in zip(items, rows, strict=True):
                message_id = row["message_id"]
                key = (message_id, row["content_hash"], item.profile)
                existing = known.get(("source", item.source_key)) if item.source_key else None
                if existing is None and message_id is not None:
                    existing = known.get(key)
                if existing is not None:
                    results.append(Stored(existing, True))
                    continue
                if message_id is not None:
                    known[key] = -1 - len(fresh_rows)  # a later copy in this batch: the same row
                results.append(None)
                fresh_rows.append(row)
            ids = (
                [row_id for (row_id,) in writing.execute(_INSERT_RAW, fresh_rows)]
                if fresh_rows
                else []
            )
        stored: list[Stored] = []
        fresh = iter(ids)
        for result in results:
            if result is None:
                stored.append(Stored(next(fresh), False))
            elif result.id < 0:  # the copy stored earlier in this batch
                stored.append(Stored(ids[-1 - result.id], True))
            else:
                stored.append(result)
        return stored
    except IntegrityError:
        if len(items) == 1:
            retry = _find_after_race(sessions, items[0])
            if retry is None:
                raise
            return [retry]
        return [store_one(sessions, item, spool) for item in items]


def _row(
    item: Incoming,
    message_id: str | None,
    prepared: tuple[bytes | None, str | None, str, int],
    now: datetime,
) -> dict:
    row_data, spool_name, digest, size = prepared
    return {
        "channel": item.channel,
        "profile": item.profile,
        "envelope_from": item.envelope_from,
        "envelope_to": list(item.envelope_to),
        "source_key": item.source_key,
        "message_id": message_id,
        "content_hash": digest,
        "size": size,
        "data": row_data,
        "spool": spool_name,
        "state": RawState.RECEIVED.value,
        "attempts": 0,
        "received_at": now,
    }


def _find_after_race(sessions: sessionmaker[Session], item: Incoming) -> Stored | None:
    """A concurrent door stored the same source key first: that copy is ours."""
    data = item.data
    with sessions() as session:
        found = _find_duplicate(
            session.connection(),
            item.source_key,
            header_message_id(_head(item)),
            data.digest if isinstance(data, SpooledData) else content_hash(data),
            item.profile,
        )
    return Stored(found, True) if found is not None else None


def store_one(sessions: sessionmaker[Session], item: Incoming, spool: Path | None = None) -> Stored:
    return store_raw_many(sessions, [item], spool)[0]


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


_RAW = RawMessage.__table__
_INSERT_RAW = insert(_RAW).returning(_RAW.c.id, sort_by_parameter_order=True)
_BY_SOURCE = select(_RAW.c.id).where(_RAW.c.source_key == bindparam("source_key"))
_BY_SOURCES = select(_RAW.c.id, _RAW.c.source_key).where(
    _RAW.c.source_key.in_(bindparam("keys", expanding=True))
)
_BY_DIGESTS = (
    select(_RAW.c.id, _RAW.c.message_id, _RAW.c.content_hash, _RAW.c.profile)
    .where(_RAW.c.content_hash.in_(bindparam("digests", expanding=True)))
    .order_by(_RAW.c.id)
)
_BY_CONTENT = (
    select(_RAW.c.id)
    .where(
        _RAW.c.message_id == bindparam("message_id"),
        _RAW.c.content_hash == bindparam("digest"),
        _RAW.c.profile == bindparam("profile"),
    )
    .limit(1)
)
_BY_CONTENT_NO_PROFILE = (
    select(_RAW.c.id)
    .where(
        _RAW.c.message_id == bindparam("message_id"),
        _RAW.c.content_hash == bindparam("digest"),
        _RAW.c.profile.is_(None),
    )
    .limit(1)
)


def _known(
    connection: Connection,
    items: list[Incoming],
    prepared: list[tuple[bytes | None, str | None, str, int]],
) -> dict[tuple, int]:
    """What of the batch is stored already: ("source", key) -> id and (Message-ID, digest,
    profile) -> id, from two look-ups for the whole batch."""
    known: dict[tuple, int] = {}
    source_keys = [item.source_key for item in items if item.source_key]
    if source_keys:
        for row_id, source_key in connection.execute(_BY_SOURCES, {"keys": source_keys}):
            known[("source", source_key)] = row_id
    digests = sorted({digest for _, _, digest, _ in prepared})
    for row_id, message_id, digest, profile in connection.execute(
        _BY_DIGESTS, {"digests": digests}
    ):
        if message_id is not None:
            known.setdefault((message_id, digest, profile), row_id)
    return known


def _find_duplicate(
    connection: Connection,
    source_key: str | None,
    message_id: str | None,
    digest: str,
    profile: str | None,
) -> int | None:
    if source_key is not None:
        found = connection.scalar(_BY_SOURCE, {"source_key": source_key})
        if found is not None:
            return found
    if message_id is None:
        return None
    if profile is None:
        return connection.scalar(
            _BY_CONTENT_NO_PROFILE, {"message_id": message_id, "digest": digest}
        )
    return connection.scalar(
        _BY_CONTENT, {"message_id": message_id, "digest": digest, "profile": profile}
    )
