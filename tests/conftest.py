"""Shared fixtures: an isolated database per test (SQLite file or PostgreSQL schema), the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from intake import db
from intake.models import Base
from tests.peers.dovecot import dovecot, fresh_dovecot, fresh_dovecot_tls  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
# The shared corpus (real-world mail, ../shared/corpus): beside the checkout, or where
# UKETSUKE_SHARED says (.ci/run finds it beside the repository a clone was made from).
SHARED = Path(os.environ.get("UKETSUKE_SHARED") or ROOT.parent / "shared")
UKETSUKE = Path(sys.executable).with_name("uketsuke")
REQUIRE_PEERS = os.environ.get("UKETSUKE_REQUIRE_PEERS") == "1"


def missing_peer(reason: str) -> None:
    """Skip a test whose real peer is missing — or fail it when CI requires every peer."""
    if REQUIRE_PEERS:
        pytest.fail(f"required peer missing: {reason}")
    pytest.skip(reason)


def _postgres_base() -> str | None:
    return os.environ.get("UKETSUKE_TEST_DATABASE_URL") or None


# The files that hold a worker longest (``--durations`` of ``make test`` on two cores, their
# tests summed), longest first. ``make test`` runs ``-n 2 --dist loadfile``: each file goes whole
# to one worker, and xdist hands a worker its next file once it is two tests from the end of the
# one it runs. xdist's own order (files with the most tests first) leaves these few-test files
# for the end, where one worker still runs one while the other has nothing left; sent first,
# they are spread over both workers and the run ends on short files. Only the order changes:
# every test runs, each file's tests in their own order. A file missing here is merely
# scheduled in collection order.
LONG_FILES = (
    "test_supervision.py",
    "test_alarms.py",
    "test_browser.py",
    "test_life_hold.py",
    "test_daemon.py",
    "test_canned.py",
    "test_desk_daemon.py",
    "test_browser_answers.py",
    "test_browser_deskday.py",
    "test_life.py",
    "test_cli_desk.py",
    "test_web_staff.py",
)


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist: keep the order made below
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that touch the database (``database_url``, directly or through ``engine``,
    ``sessions``, ``cli``, ``daemon`` …) carry the ``db`` marker. With
    UKETSUKE_TEST_DATABASE_URL set (CI's PostgreSQL pass) only those run: the others do not
    depend on the database and already ran in the SQLite pass. The files of LONG_FILES go
    first (a stable sort: the other files, and each file's tests, keep their order)."""
    rank = {name: index for index, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FILES)))
    marker = pytest.mark.db
    selected, deselected = [], []
    for item in items:
        if "database_url" in getattr(item, "fixturenames", ()):
            item.add_marker(marker)
            selected.append(item)
        else:
            deselected.append(item)
    if _postgres_base() is not None and deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.fixture(scope="session", autouse=True)
def _pg_trgm_in_public() -> None:
    """PostgreSQL: pg_trgm lives in ``public``, made once. Made by migration 0008 inside one
    test's own schema, it would go with that schema's DROP ... CASCADE while another test (in a
    parallel worker) builds a trigram index on it ("operator class was concurrently dropped")."""
    base = _postgres_base()
    if base is None:
        return
    from sqlalchemy.exc import DBAPIError

    admin = create_engine(base)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
    except DBAPIError:
        pass  # made meanwhile by the other worker, or not installable: 0008 copes with both
    finally:
        admin.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test: a SQLite file, or its own PostgreSQL schema."""
    base = _postgres_base()
    if base is None:
        yield f"sqlite:///{tmp_path / 'uketsuke.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = db.make_engine(database_url)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return db.session_factory(engine)


class Prepared:
    """States that fixtures build with the CLI before a test (a migrated database, a desk with
    its staff and incidents): built by the commands once per test process, then copied into
    each test's own database file and home. A closed SQLite database is its file (the WAL file
    too, when one is left), so each test still starts from exactly what the commands made, on
    its own copy. On PostgreSQL (one schema per test) the commands run for every test. The
    commands themselves are tested on their own (tests/test_cli_database.py and others)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: dict[str, Path] = {}

    def __call__(self, key: str, database_url: str, home: Path, build: Callable[[], None]) -> None:
        """Make ``key``'s state in ``database_url`` and ``home``: ``build()`` the first time
        (or on PostgreSQL), a copy of what it made after that."""
        database = _sqlite_file(database_url)
        if database is None:
            build()
            return
        files = {"database": database, "database-wal": Path(f"{database}-wal")}
        saved = self.made.get(key)
        if saved is None:
            build()
            saved = self.root / key
            shutil.copytree(home, saved / "home")
            for name, path in files.items():
                if path.exists():
                    shutil.copy2(path, saved / name)
            self.made[key] = saved
            return
        shutil.copytree(saved / "home", home, dirs_exist_ok=True)
        for name, path in files.items():
            if (saved / name).exists():
                shutil.copy2(saved / name, path)


def _sqlite_file(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    return Prepared(tmp_path_factory.mktemp("prepared"))


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Cli:
    """Runs the installed ``uketsuke`` command as a user does, in an isolated home."""

    home: Path
    database_url: str
    prepared: Prepared | None = field(default=None, repr=False)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("UKETSUKE_")}
        env.update(UKETSUKE_HOME=str(self.home), UKETSUKE_DATABASE_URL=self.database_url)
        return env

    def prepare(self, key: str, build: Callable[[], None]) -> None:
        """What ``build()`` (commands of this CLI) makes, made once per test process and
        copied after that (:class:`Prepared`)."""
        if self.prepared is None:
            build()
        else:
            self.prepared(key, self.database_url, self.home, build)

    def migrated(self) -> Cli:
        """``uketsuke migrate`` on the fresh database, as fixtures start; the CLI itself."""

        def migrate() -> None:
            result = self("migrate")
            assert result.returncode == 0, result.stderr

        self.prepare("migrate", migrate)
        return self

    def initialized(self) -> Cli:
        """``uketsuke init-db`` on the fresh database, as fixtures start; the CLI itself."""

        def init_db() -> None:
            result = self("init-db")
            assert result.returncode == 0, result.stderr

        self.prepare("init-db", init_db)
        return self

    def __call__(self, *args: str, input: bytes | None = None, timeout: float = 60) -> CliResult:
        proc = subprocess.run(
            [str(UKETSUKE), *args],
            input=input,
            capture_output=True,
            env=self.env,
            timeout=timeout,
            cwd=self.home,
        )
        return CliResult(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


@pytest.fixture
def cli(tmp_path: Path, database_url: str, prepared: Prepared) -> Cli:
    home = tmp_path / "home"
    home.mkdir()
    return Cli(home, database_url, prepared)


@pytest.fixture
def daemon(tmp_path: Path, database_url: str, prepared: Prepared) -> Iterator[Any]:
    """``uketsuke run`` as a subprocess on a fresh database (tests.daemon.Daemon), made by
    ``uketsuke init-db`` (:class:`Prepared`)."""
    from tests.daemon import Daemon

    home = tmp_path / "home"
    home.mkdir()
    instance = Daemon(home, database_url)

    def init_db() -> None:
        result = instance.cli("init-db")
        assert result.returncode == 0, result.stderr

    prepared("daemon-init-db", database_url, home, init_db)
    yield instance
    instance.close()
