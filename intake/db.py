"""Engine, sessions and schema management.

SQLite runs in WAL mode with foreign keys on and ``synchronous=FULL`` (a committed message
survives a power cut, not only a crash: R29); PostgreSQL is the production store.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from intake import writebehind
from intake.writer_turns import WriterTurns

if TYPE_CHECKING:  # Alembic (and Mako) load only where the schema is read or upgraded
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"
_READ_ONLY = "uketsuke_read_only"
_TURNS: weakref.WeakKeyDictionary[Engine, WriterTurns] = weakref.WeakKeyDictionary()


def make_engine(url: str, *, autocheckpoint: bool = True, **kwargs: Any) -> Engine:
    """An engine for ``url``; for SQLite: folder created, pragmas set on every connection.

    ``autocheckpoint=False`` (the daemon): a commit never copies the WAL into the database file
    (a stall of 10 ms and more, inside the writer's turn, every few megabytes); the processor
    calls :func:`checkpoint` between its turns instead."""
    parsed = make_url(url)
    # R26: a database error's text never carries the statement's values (mail text, addresses),
    # whoever logs or prints it.
    kwargs.setdefault("hide_parameters", True)
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
            if not autocheckpoint:
                cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()

        # An in-memory database (no file) has no other writers to take turns with.
        in_memory = parsed.database in (None, "", ":memory:")
        turns = None if in_memory else WriterTurns(str(parsed.database))
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
    engine = create_engine(url, **kwargs)
    if engine.dialect.driver == "psycopg":
        writebehind.install(engine)  # the processor's queued statements settle first
    return engine


def checkpoint(engine: Engine) -> None:
    """SQLite: copy the WAL into the database file (PASSIVE: it neither waits for nor blocks
    writers and readers; no write turn is taken). Other databases: nothing to do."""
    if engine.dialect.name != "sqlite":
        return
    connection = engine.raw_connection()  # autocommit (isolation_level None): no BEGIN
    try:
        cursor = connection.cursor()
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        cursor.close()
    finally:
        connection.close()


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
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> str | None:
    """Create or upgrade the schema to the newest migration; returns the revision now in force."""
    from alembic import command

    command.upgrade(alembic_config(engine), "head")
    return current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    """The migration in force (Alembic's version table, read without loading Alembic: the
    daemon checks it at every start)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
