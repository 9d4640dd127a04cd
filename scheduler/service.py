"""The APScheduler wiring: the clock that ticks due rows (R16, docs/rules.md).

APScheduler holds no state of its own (memory job store): every piece of timed work is a database
row with a due time, so a restart loses nothing. Jobs are bounded (docs/architecture.md,
"Processes and threads"): one instance each, coalesced, with a misfire grace time; shutdown waits
for the job under way.

A database outage is not a bug: each job's :class:`JobTick` logs its start, a summary a minute
and its end, instead of APScheduler's traceback on every tick (R16: the rows wait in the
database and are worked off once it is back).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from intake.answerhold import AnswerSent
from intake.config import Config
from intake.db import read_sessions
from intake.intakefirst import Deferral
from intake.models import RawMessage, RawState
from intake.searchindex import catch_up
from intake.states import OutboxKind
from responder.license import LICENSE_KEY, LicenseMail
from responder.outbox import Dispatcher
from responder.transports import make_transport
from scheduler.clock import Clock
from scheduler.jobs import expire_held
from scheduler.lifecycle import auto_close_due
from scheduler.retention import purge_raw_mail
from scheduler.slatimers import sla_due

log = logging.getLogger("uketsuke.scheduler")

OUTBOX_SECONDS = 2
HELD_EXPIRY_SECONDS = 60
AUTO_CLOSE_SECONDS = 30
RETENTION_SECONDS = 3600
SEARCH_INDEX_SECONDS = 5
SLA_SECONDS = 30
INTERVALS = {
    "outbox": OUTBOX_SECONDS,
    "held-expiry": HELD_EXPIRY_SECONDS,
    "auto-close": AUTO_CLOSE_SECONDS,
    "retention": RETENTION_SECONDS,
    "search-index": SEARCH_INDEX_SECONDS,
    "sla": SLA_SECONDS,
}
# During an outage a job says so once, then at most once a minute, then once when it is over.
OUTAGE_SUMMARY_EVERY = timedelta(minutes=1)
# What SQLAlchemy raises when the database cannot be reached: the server refused or dropped the
# connection, the pool timed out, SQLite could not open its file (or found it locked).
_UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError)


def database_unavailable(exc: BaseException) -> bool:
    """An outage, as opposed to a bug: bugs still reach APScheduler and its traceback."""
    return isinstance(exc, _UNAVAILABLE) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def error_class(exc: BaseException) -> str:
    """The exception's class and the driver's (``OperationalError (psycopg.OperationalError)``):
    never its text, which holds SQL and, for writes, the parameters (mail data, addresses: R26)."""
    name = type(exc).__name__
    orig = getattr(exc, "orig", None)
    if orig is None:
        return name
    return f"{name} ({type(orig).__module__}.{type(orig).__qualname__})"


def duration(span: timedelta) -> str:
    seconds = max(round(span.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class JobTick:
    """One scheduled job: ``work(now)`` at the clock's time on each tick, quiet in an outage.

    Without this, APScheduler logs a full traceback on every failed tick (the outbox ticks every
    2 s: over a thousand lines in 18 s, with SQL in them). Here the first failed tick logs one
    WARNING (job and exception class), a failing tick at most one WARNING summary a minute,
    and the first tick that works again one INFO line with how long it lasted and how many
    ticks failed. Any other exception propagates as before. APScheduler runs one instance of a
    job at a time (``max_instances=1``), so a tick's state needs no lock.
    """

    def __init__(self, job: str, work: Callable[[datetime], object], clock: Clock) -> None:
        self.job = job
        self.work = work
        self.clock = clock
        self.down_since: datetime | None = None
        self.reported_at: datetime | None = None
        self.failed_ticks = 0
        self.running = False  # a tick under way (send_now leaves it to finish)

    def __call__(self) -> None:
        self.running = True
        try:
            self._tick(self.clock.now())
        finally:
            self.running = False

    def _tick(self, now: datetime) -> None:
        try:
            self.work(now)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            self._failed(exc, now)
            return
        if self.down_since is not None:
            self._recovered(now)

    def _failed(self, exc: Exception, now: datetime) -> None:
        self.failed_ticks += 1
        if self.down_since is None:
            self.down_since = self.reported_at = now
            log.warning(
                "job %s: database unavailable (%s); retrying on every tick",
                self.job,
                error_class(exc),
            )
            return
        assert self.reported_at is not None
        if now - self.reported_at >= OUTAGE_SUMMARY_EVERY:
            self.reported_at = now
            log.warning(
                "job %s: database still unavailable after %s, %d ticks failed (last: %s)",
                self.job,
                duration(now - self.down_since),
                self.failed_ticks,
                error_class(exc),
            )

    def _recovered(self, now: datetime) -> None:
        assert self.down_since is not None
        log.info(
            "job %s: database available again after %s, %d ticks failed",
            self.job,
            duration(now - self.down_since),
            self.failed_ticks,
        )
        self.down_since = self.reported_at = None
        self.failed_ticks = 0


class IntakeFirst:
    """Work that waits while stored mail waits to be processed, never longer than
    ``intake.intakefirst.MAX_DEFER``: the outbox, the search index."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.reads = read_sessions(sessions)
        self.deferral = Deferral()

    def backlog(self) -> bool:
        with self.reads() as session:
            return session.scalar(_BACKLOG) is not None

    def waits(self, now: datetime) -> bool:
        return self.deferral.waits(self.backlog(), now)


class OutboxJob(IntakeFirst):
    """The outbox tick: sends what is due, deferring to intake while a backlog is processed."""

    def __init__(self, dispatcher: Dispatcher, sessions: sessionmaker[Session]) -> None:
        super().__init__(sessions)
        self.dispatcher = dispatcher

    def run(self, now: datetime) -> int:
        return 0 if self.waits(now) else self.dispatcher.run_once(now)


class SearchIndexJob(IntakeFirst):
    """SQLite: new incidents and messages into the search index (intake.searchindex)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__(sessions)
        self.engine = sessions.kw["bind"]

    def run(self, now: datetime) -> int:
        if self.engine.dialect.name != "sqlite" or self.waits(now):
            return 0
        return catch_up(self.engine)


_BACKLOG = select(RawMessage.id).where(RawMessage.state == RawState.RECEIVED).limit(1)


def make_dispatcher(config: Config, sessions: sessionmaker[Session]) -> Dispatcher:
    """The outbox's dispatcher as the daemon runs it, with its send-time hooks."""
    return Dispatcher(
        sessions,
        make_transport(config.outbox, config.outbox_maildir),
        lambda profile: config.profile(profile).support_address,
        config.outbox.max_attempts,
        hooks={
            LICENSE_KEY: LicenseMail(config),  # R14-R16: the key is issued when sent
            OutboxKind.ANSWER: AnswerSent(config),  # R18: the clock starts when sent
        },
    )


def job_ticks(config: Config, sessions: sessionmaker[Session], clock: Clock) -> dict[str, JobTick]:
    """The scheduler's jobs by id, each a tick to call (the scheduler's, or a test's)."""
    outbox = OutboxJob(make_dispatcher(config, sessions), sessions)
    return {
        "outbox": JobTick("outbox", outbox.run, clock),
        "held-expiry": JobTick("held-expiry", partial(expire_held, sessions, config), clock),
        "auto-close": JobTick("auto-close", partial(auto_close_due, sessions, config), clock),
        "retention": JobTick("retention", partial(purge_raw_mail, sessions, config), clock),
        "search-index": JobTick("search-index", SearchIndexJob(sessions).run, clock),
        "sla": JobTick("sla", partial(sla_due, sessions, config), clock),
    }


def send_now(scheduler: BackgroundScheduler) -> None:
    """The outbox's next tick now (the processor, after a drain: the acknowledgments and staff
    notifications it queued leave within moments, not up to OUTBOX_SECONDS later). A tick under
    way is left to finish, and the next one comes at its time: APScheduler would skip a second
    instance with a WARNING line (``max_instances``). A stopped scheduler is left alone."""
    job = scheduler.get_job("outbox")
    if job is None or getattr(job.func, "running", False):
        return
    try:
        scheduler.modify_job("outbox", next_run_time=datetime.now(UTC))
    except (JobLookupError, SchedulerNotRunningError):
        return


def build_scheduler(
    config: Config, sessions: sessionmaker[Session], clock: Clock
) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 60},
        timezone="Asia/Tokyo",
    )
    # Each job also runs at once when the scheduler starts: after a restart, an overdue timer
    # (auto-close, key mail, held expiry) fires now, not one interval later (R16).
    started = datetime.now(UTC)
    for job, tick in job_ticks(config, sessions, clock).items():
        scheduler.add_job(
            tick, "interval", seconds=INTERVALS[job], id=job, name=job, next_run_time=started
        )
    return scheduler
