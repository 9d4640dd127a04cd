"""Engine, sessions and schema management.

SQLite runs in WAL mode with foreign keys on and ``synchronous=FULL`` (a committed message
survives a power cut, not only a crash: R29); PostgreSQL is the production store.
"""

from __future__ import annotations

import fcntl
import os
import threading
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
        self._fds: dict[int, int] = {}  # id(DBAPI connection) -> its lock file descriptor
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
            fd = self._fds.get(key)
            if fd is None:  # one open file per connection: flock excludes them from each other
                fd = self._fds[key] = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._held.key = key

    def give_back(self, dbapi_connection: Any) -> None:
        key = self._key(dbapi_connection)
        if getattr(self._held, "key", None) != key:
            return
        self._held.key = None
        fd = self._fds.get(key)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def forget(self, dbapi_connection: Any) -> None:
        key = self._key(dbapi_connection)
        if getattr(self._held, "key", None) == key:
            self._held.key = None
        with self._mutex:
            fd = self._fds.pop(key, None)
        if fd is not None:
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
