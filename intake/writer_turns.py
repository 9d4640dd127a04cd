"""SQLite writers take turns on an ``flock``, instead of SQLite's sleeping busy handler.

SQLite lets one transaction write at a time. Its busy handler finds the write lock held by
polling with growing sleeps (1, 2, 5, 10, ... 100 ms); with the doors and the processor writing
at once, the SMTP door's group-commit thread measured 16 s of a 24 s benchmark asleep in
``BEGIN IMMEDIATE``. Here every writer of every uketsuke process first takes an ``flock`` of
``<database>.writer``; the kernel wakes a waiter the moment the holder lets go. A writer waiting
also holds a shared lock on ``<database>.want``, which the holder can see: the processor commits
early then, so a door's commit (and its SMTP 250) waits for one message, not a batch.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from typing import Any

from sqlalchemy import Engine, event

YIELD_WAIT_SECONDS = 0.05  # at most, so a stream of door commits never starves the processor


class WriterTurns:
    """The turns of one SQLite database, for the engines of one process. A turn is taken
    before ``BEGIN IMMEDIATE`` and ends after COMMIT or ROLLBACK has returned (the dialect's own
    calls, wrapped). SQLite's lock and busy timeout still apply to any other program."""

    def __init__(self, database: str) -> None:
        self.path = f"{database}.writer"
        self.want_path = f"{database}.want"  # shared-locked by every writer waiting its turn
        self._fds: dict[int, tuple[int, int]] = {}  # id(DBAPI connection) -> (turn, want) fds
        self._mutex = threading.Lock()
        self._held = threading.local()  # the connection whose turn this thread holds

    @staticmethod
    def _key(connection: Any) -> int:
        """The DBAPI connection's id, whether given it or SQLAlchemy's pool proxy for it."""
        return id(getattr(connection, "dbapi_connection", None) or connection)

    def take(self, dbapi_connection: Any) -> None:
        if getattr(self._held, "key", None) is not None:
            # This thread already writes through another connection: waiting for the turn
            # would wait for itself. SQLite's busy timeout decides, as without turns.
            return
        key = self._key(dbapi_connection)
        with self._mutex:
            fds = self._fds.get(key)
            if fds is None:  # one open file per connection: flock excludes them from each other
                fds = self._fds[key] = (
                    os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600),
                    os.open(self.want_path, os.O_RDWR | os.O_CREAT, 0o600),
                )
        turn, want = fds
        if getattr(self._held, "yielded", False):
            self._held.yielded = False
            self._let_waiters_go(want)
        fcntl.flock(want, fcntl.LOCK_SH)  # "a writer is waiting", seen by the holder
        try:
            fcntl.flock(turn, fcntl.LOCK_EX)
        finally:
            fcntl.flock(want, fcntl.LOCK_UN)
        self._held.key = key

    def others_waiting(self) -> bool:
        """True when this thread holds the turn and another writer waits for it: the processor
        asks between messages and commits early, so a door's commit waits for one message,
        not a batch."""
        key = getattr(self._held, "key", None)
        fds = self._fds.get(key) if key is not None else None
        if fds is None:
            return False
        if self._free(fds[1]):
            return False
        self._held.yielded = True  # its next turn lets the waiting writers go first
        return True

    @staticmethod
    def _free(want: int) -> bool:
        try:
            fcntl.flock(want, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(want, fcntl.LOCK_UN)
        return True

    def _let_waiters_go(self, want: int) -> None:
        """After yielding, wait (briefly, bounded) until the writers that were waiting have
        their turn: the kernel wakes them, but this thread would otherwise be first again."""
        deadline = time.monotonic() + YIELD_WAIT_SECONDS
        while not self._free(want) and time.monotonic() < deadline:
            time.sleep(0.0002)

    def give_back(self, dbapi_connection: Any) -> None:
        key = self._key(dbapi_connection)
        if getattr(self._held, "key", None) != key:
            return
        self._held.key = None
        fds = self._fds.get(key)
        if fds is not None:
            fcntl.flock(fds[0], fcntl.LOCK_UN)

    def forget(self, dbapi_connection: Any) -> None:
        key = self._key(dbapi_connection)
        if getattr(self._held, "key", None) == key:
            self._held.key = None
        with self._mutex:
            fds = self._fds.pop(key, None)
        if fds is not None:
            for fd in fds:
                os.close(fd)  # closing the file also ends a turn still held

    def wrap(self, engine: Engine) -> None:
        dialect = engine.dialect
        commit, rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(dbapi_connection: Any) -> None:
            try:
                commit(dbapi_connection)
            finally:
                self.give_back(dbapi_connection)

        def do_rollback(dbapi_connection: Any) -> None:
            try:
                rollback(dbapi_connection)
            finally:
                self.give_back(dbapi_connection)

        dialect.do_commit = do_commit  # type: ignore[method-assign]
        dialect.do_rollback = do_rollback  # type: ignore[method-assign]
        event.listen(engine, "close", lambda dbapi, _record: self.forget(dbapi))
        event.listen(engine, "invalidate", lambda dbapi, _record, _exc: self.forget(dbapi))
