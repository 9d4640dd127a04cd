"""The APScheduler wiring: the clock that ticks due rows (DESIGN principle 3).

APScheduler holds no state of its own (memory job store): every piece of timed work is a database
row with a due time, so a restart loses nothing. Jobs are bounded (STYLE 7): one instance each,
coalesced, with a misfire grace time; shutdown waits for the job under way.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config
from intake.db import read_sessions
from intake.models import RawMessage, RawState
from responder.outbox import Dispatcher
from responder.transports import make_transport
from scheduler.clock import Clock
from scheduler.jobs import expire_held

OUTBOX_SECONDS = 2
HELD_EXPIRY_SECONDS = 60
# While stored mail waits to be processed, the outbox waits too (intake first), but never
# longer than this: acknowledgments of a burst go out seconds later, never lost or held back.
OUTBOX_MAX_DEFER = timedelta(seconds=30)


class OutboxJob:
    """The outbox tick: sends what is due, deferring to intake while a backlog is processed."""

    def __init__(self, dispatcher: Dispatcher, sessions: sessionmaker[Session]) -> None:
        self.dispatcher = dispatcher
        self.reads = read_sessions(sessions)
        self.deferred_since: datetime | None = None

    def backlog(self) -> bool:
        with self.reads() as session:
            return session.scalar(_BACKLOG) is not None

    def run(self, now: datetime) -> int:
        if self.backlog():
            self.deferred_since = self.deferred_since or now
            if now - self.deferred_since < OUTBOX_MAX_DEFER:
                return 0
        self.deferred_since = None
        return self.dispatcher.run_once(now)


_BACKLOG = select(RawMessage.id).where(RawMessage.state == RawState.RECEIVED).limit(1)


def build_scheduler(
    config: Config, sessions: sessionmaker[Session], clock: Clock
) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 60},
        timezone="Asia/Tokyo",
    )
    dispatcher = Dispatcher(
        sessions,
        make_transport(config.outbox, config.outbox_maildir),
        lambda profile: config.profile(profile).support_address,
        config.outbox.max_attempts,
    )

    outbox = OutboxJob(dispatcher, sessions)

    def send_outbox() -> None:
        outbox.run(clock.now())

    def expire_held_inquiries() -> None:
        expire_held(sessions, config, clock.now())

    scheduler.add_job(send_outbox, "interval", seconds=OUTBOX_SECONDS, id="outbox")
    scheduler.add_job(
        expire_held_inquiries, "interval", seconds=HELD_EXPIRY_SECONDS, id="held-expiry"
    )
    return scheduler
