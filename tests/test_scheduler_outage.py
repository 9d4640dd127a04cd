"""The scheduler through a real database outage: a few log lines, not a traceback a tick (R16).

The database really goes away: on PostgreSQL the engine talks to it through a loopback
forwarder that is stopped (connections cut, port closed) and started again; on SQLite its folder
is moved away and back. The jobs' ticks run with an injected clock, two seconds apart.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from intake import db
from intake.config import Config, load_config
from intake.models import Base, OutboxMail
from responder.outbox import queue_bytes
from scheduler.calendar import TOKYO
from scheduler.clock import FixedClock as Clock
from scheduler.service import (
    HELD_EXPIRY_SECONDS,
    INTERVALS,
    OUTBOX_SECONDS,
    JobTick,
    build_scheduler,
    job_ticks,
    send_now,
)
from tests.daemon import free_port

START = datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)
LOGGER = "uketsuke.scheduler"




class Forwarder:
    """A TCP forwarder on a fixed loopback port: ``down()`` cuts every connection and closes
    the port (connection refused), ``up()`` listens again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def up(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def down(self) -> None:
        if self._listener is not None:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
            self._listener.close()
            self._listener = None
        with self._lock:
            connections, self._open = self._open, set()
        for connection in connections:
            self._close(connection)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        self._close(source)
        self._close(sink)

    @staticmethod
    def _close(connection: socket.socket) -> None:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
        connection.close()


class Database:
    """The ticks' engine and a switch for its database: ``up()`` / ``down()``."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        url = make_url(database_url)
        self.forwarder: Forwarder | None = None
        if url.get_backend_name() == "sqlite":
            self.folder = tmp_path / "db"
            self.away = tmp_path / "db-away"
            self.engine = db.make_engine(f"sqlite:///{self.folder / 'uketsuke.db'}")
            Base.metadata.create_all(self.engine)
            self.engine.dispose()
            self.folder.rename(self.away)
        else:
            self.forwarder = Forwarder((url.host or "127.0.0.1", url.port or 5432))
            forwarded = url.set(host="127.0.0.1", port=self.forwarder.port)
            self.engine = db.make_engine(forwarded.render_as_string(hide_password=False))
            self.up()
            Base.metadata.create_all(self.engine)
            self.down()
        self.sessions = db.session_factory(self.engine)

    def up(self) -> None:
        if self.forwarder is not None:
            self.forwarder.up()
        else:
            self.away.rename(self.folder)

    def down(self) -> None:
        if self.forwarder is not None:
            self.forwarder.down()
        else:
            self.engine.dispose()  # SQLite keeps an open file working wherever it moved
            self.folder.rename(self.away)

    def close(self) -> None:
        self.engine.dispose()
        if self.forwarder is not None:
            self.forwarder.down()


@pytest.fixture
def database(database_url: str, tmp_path: Path) -> Iterator[Database]:
    """Starts down: the ticks' database cannot be reached until ``up()``."""
    database = Database(database_url, tmp_path)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(None, env={"UKETSUKE_HOME": str(tmp_path / "home")})


def scheduler_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER]


def run(tick: JobTick, clock: Clock, ticks: int, every: int = OUTBOX_SECONDS) -> None:
    for _ in range(ticks):
        tick()
        clock.at += timedelta(seconds=every)


def queue_ack(sessions: sessionmaker[Session], now: datetime) -> None:
    with sessions.begin() as session:
        queue_bytes(
            session,
            kind="ack",
            profile="helpdesk",
            recipients=["c@example.jp"],
            data=b"Message-ID: <after-outage@x>\r\nSubject: t\r\n\r\nbody\r\n",
            message_id="<after-outage@x>",
            now=now,
        )


def test_r16_outage_logs_start_and_end_once(
    database: Database, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    """100 outbox ticks, 2 s apart, against a database that cannot be reached: one WARNING at
    the start (job, exception class, no traceback), one summary a minute, one INFO at the end
    with how long it lasted and how many ticks failed; then the job works as before."""
    caplog.set_level(logging.DEBUG)
    clock = Clock(START)
    outbox = job_ticks(config, database.sessions, clock)["outbox"]

    run(outbox, clock, 100)  # 200 s down
    database.up()
    queue_ack(database.sessions, clock.at)
    run(outbox, clock, 10)

    lines = scheduler_lines(caplog)
    assert len(lines) == 5, [r.getMessage() for r in lines]
    start, *summaries, end = lines
    assert start.levelno == logging.WARNING
    assert start.getMessage().startswith("job outbox: database unavailable (OperationalError (")
    assert [s.levelno for s in summaries] == [logging.WARNING] * 3  # at 60, 120 and 180 s
    assert [s.getMessage().split(",")[0] for s in summaries] == [
        "job outbox: database still unavailable after 1 min 0 s",
        "job outbox: database still unavailable after 2 min 0 s",
        "job outbox: database still unavailable after 3 min 0 s",
    ]
    assert end.levelno == logging.INFO
    assert end.getMessage() == (
        "job outbox: database available again after 3 min 20 s, 100 ticks failed"
    )
    # Nothing else logged a traceback (APScheduler's executor logs one per raised tick) and no
    # line carries the error's text: SQL, host names, file paths.
    assert not [r for r in caplog.records if r.exc_info]
    text = "\n".join(r.getMessage() for r in caplog.records)
    for leak in ("SELECT", "127.0.0.1", "unable to open", "Connection refused", "sqlalche.me"):
        assert leak not in text
    with database.sessions() as session:  # and the mail queued after the outage went out
        assert session.scalars(select(OutboxMail.state)).all() == ["sent"]
    assert len(list((config.outbox_maildir / "new").iterdir())) == 1


def test_each_job_reports_its_own_outage(
    database: Database, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    """The outbox (every 2 s) and held-inquiry expiry (every 60 s) through one 90 s outage:
    each says once that it started and once that it ended, under its own name."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = Clock(START)
    ticks = job_ticks(config, database.sessions, clock)
    for second in range(0, 100, OUTBOX_SECONDS):
        clock.at = START + timedelta(seconds=second)
        if second == 90:
            database.up()
        ticks["outbox"]()
        if second % HELD_EXPIRY_SECONDS == 0:
            ticks["held-expiry"]()
    clock.at = START + timedelta(seconds=120)
    ticks["held-expiry"]()

    lines = [(r.levelname, r.getMessage()) for r in scheduler_lines(caplog)]
    expected = [
        ("WARNING", "job outbox: database unavailable (OperationalError ("),
        ("WARNING", "job held-expiry: database unavailable (OperationalError ("),
        ("WARNING", "job outbox: database still unavailable after 1 min 0 s, 31 ticks failed"),
        ("WARNING", "job held-expiry: database still unavailable after 1 min 0 s, 2 ticks failed"),
        ("INFO", "job outbox: database available again after 1 min 30 s, 45 ticks failed"),
        ("INFO", "job held-expiry: database available again after 2 min 0 s, 2 ticks failed"),
    ]
    assert len(lines) == len(expected), lines
    for (level, message), (want_level, start) in zip(lines, expected, strict=True):
        assert level == want_level and message.startswith(start), (level, message)


def test_a_second_outage_is_reported_again(
    database: Database, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    """Down, up, down (the pool's connections cut under it), up: two starts, two ends, and the
    second outage counts its own ticks."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = Clock(START)
    outbox = job_ticks(config, database.sessions, clock)["outbox"]
    run(outbox, clock, 3)
    database.up()
    run(outbox, clock, 3)
    database.down()
    run(outbox, clock, 5)
    database.up()
    run(outbox, clock, 3)

    lines = [(r.levelname, r.getMessage()) for r in scheduler_lines(caplog)]
    assert [level for level, _ in lines] == ["WARNING", "INFO", "WARNING", "INFO"]
    assert lines[1][1] == "job outbox: database available again after 6 s, 3 ticks failed"
    assert lines[3][1] == "job outbox: database available again after 10 s, 5 ticks failed"


def test_a_bug_in_a_job_still_raises(caplog: pytest.LogCaptureFixture) -> None:
    """Only an outage is kept quiet: any other error reaches APScheduler, which logs it with
    its traceback as before."""
    caplog.set_level(logging.INFO, logger=LOGGER)

    def broken(now: datetime) -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        JobTick("outbox", broken, Clock(START))()
    assert scheduler_lines(caplog) == []


def test_scheduler_runs_the_quiet_ticks(config: Config, engine: Engine) -> None:
    scheduler = build_scheduler(config, db.session_factory(engine), Clock(START))
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert sorted(jobs) == [
        "auto-close",
        "held-expiry",
        "outbox",
        "retention",
        "search-index",
        "sla",
    ]
    for job in jobs.values():
        assert isinstance(job.func, JobTick) and job.func.job == job.id
        # R16: each job runs at once at start (an overdue timer fires after a restart, not an
        # interval later)
        assert job.next_run_time <= datetime.now(UTC)
        assert job.trigger.interval == timedelta(seconds=INTERVALS[job.id])
    assert INTERVALS["outbox"] == OUTBOX_SECONDS and INTERVALS["held-expiry"] == HELD_EXPIRY_SECONDS


def test_after_a_drain_the_outbox_ticks_at_once_not_at_its_next_interval(
    config: Config, engine: Engine
) -> None:
    """The processor's drain queued acknowledgments: send_now makes the outbox's next tick now
    (the other jobs keep their times); a tick under way and a stopped scheduler are left alone."""
    scheduler = build_scheduler(config, db.session_factory(engine), Clock(START))
    scheduler.start(paused=True)  # nothing runs: only the times are read
    try:
        later = datetime.now(UTC) + timedelta(hours=1)
        for job in scheduler.get_jobs():
            job.modify(next_run_time=later)
        send_now(scheduler)
        times = {job.id: job.next_run_time for job in scheduler.get_jobs()}
        assert times.pop("outbox") <= datetime.now(UTC)
        assert all(when == later for when in times.values())
        # A tick under way is left alone: a second instance would be skipped with a WARNING.
        outbox = scheduler.get_job("outbox")
        outbox.modify(next_run_time=later)
        outbox.func.running = True
        send_now(scheduler)
        assert scheduler.get_job("outbox").next_run_time == later
    finally:
        scheduler.shutdown(wait=False)
    send_now(scheduler)  # stopped: nothing raised


def test_a_tick_says_it_is_under_way_until_it_ends_even_by_an_error() -> None:
    seen: list[bool] = []
    tick = JobTick("outbox", lambda now: seen.append(tick.running), Clock(START))
    tick()
    assert seen == [True] and not tick.running

    def broken(now: datetime) -> None:
        raise KeyError("bug")

    failing = JobTick("outbox", broken, Clock(START))
    with pytest.raises(KeyError):
        failing()
    assert not failing.running
