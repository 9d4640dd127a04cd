"""Engine, sessions and schema management.

SQLite runs in WAL mode with foreign keys on and ``synchronous=FULL`` (a committed message
survives a power cut, not only a crash: R29); PostgreSQL is the production store.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
_READ_ONLY = "uketsuke_read_only"
YIELD_WAIT_SECONDS = 0.05  # at most, so a stream of door commits never starves the processor
_TURNS: weakref.WeakKeyDictionary[Engine, WriterTurns] = weakref.WeakKeyDictionary()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; for SQLite: folder created, pragmas set on every connection."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        busy_ms = int(1000 * kwargs.setdefault("connect_args", {}).setdefault("timeout", 30))
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's BEGIN below start transactions (pysqlite's own handling is off).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.close()

        turns = WriterTurns(parsed.database) if parsed.database != ":memory:" else None
        if turns is not None:
            _TURNS[engine] = turns

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # IMMEDIATE: a writer takes the lock at BEGIN, so two writers never deadlock mid-way.
            # Sessions from read_sessions() only read: a deferred BEGIN, no lock (WAL readers
            # never wait for the writer, nor make it wait).
            if conn.get_execution_options().get(_READ_ONLY):
                conn.exec_driver_sql("BEGIN")
                return
            dbapi_connection = conn.connection.dbapi_connection
            if turns is not None:
                turns.take(dbapi_connection)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                if turns is not None:
                    turns.give_back(dbapi_connection)
                raise

        if turns is not None:
            turns.wrap(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


class WriterTurns:
    """Writers queue on an ``flock`` of ``<database>.writer`` before SQLite's own write lock.

    SQLite's busy handler finds a held write lock by polling with growing sleeps (1, 2, 5, 10,
    ... 100 ms): with the doors and the processor writing at once, a door's commit measured 16 s
    of 24 asleep in BEGIN IMMEDIATE. The kernel wakes an ``flock`` waiter the moment the holder
    lets go, so writers of every uketsuke process take turns without sleeping. The turn ends
    after COMMIT or ROLLBACK has returned (the dialect's own calls, wrapped). SQLite's lock and
    busy timeout still apply to any other program writing the file.
    """

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


def writer_waiting(engine: Engine) -> Callable[[], bool] | None:
    """For a long writer: a check that another writer waits for the turn it holds (SQLite)."""
    turns = _TURNS.get(engine)
    return turns.others_waiting if turns is not None else None


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def read_sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions for look-ups only: on SQLite they take no write lock (a write through them
    fails with "database is locked" or upgrades the lock; do not write)."""
    engine = sessions.kw["bind"]
    return sessionmaker(engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False)


def alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> str | None:
    """Create or upgrade the schema to the newest migration; returns the revision now in force."""
    command.upgrade(alembic_config(engine), "head")
    return current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
