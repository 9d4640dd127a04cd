"""The APScheduler wiring: the clock that ticks due rows (DESIGN principle 3).

APScheduler holds no state of its own (memory job store): every piece of timed work is a database
row with a due time, so a restart loses nothing. Jobs are bounded (STYLE 7): one instance each,
coalesced, with a misfire grace time; shutdown waits for the job under way.
"""

from __future__ import annotations

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config
from responder.outbox import Dispatcher
from responder.transports import make_transport
from scheduler.clock import Clock
from scheduler.jobs import expire_held

OUTBOX_SECONDS = 2
HELD_EXPIRY_SECONDS = 60


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

    def send_outbox() -> None:
        dispatcher.run_once(clock.now())

    def expire_held_inquiries() -> None:
        expire_held(sessions, config, clock.now())

    scheduler.add_job(send_outbox, "interval", seconds=OUTBOX_SECONDS, id="outbox")
    scheduler.add_job(
        expire_held_inquiries, "interval", seconds=HELD_EXPIRY_SECONDS, id="held-expiry"
    )
    return scheduler
