"""``uketsuke health``: is every part moving? One line per part, Nagios-style states.

The parts: the database, the processor (the running daemon's heartbeat, docs/architecture.md,
"Supervision"), the outbox (its oldest due mail), each IMAP mailbox (its last successful poll)
and the oldest stored message waiting to be processed. A part is CRITICAL once it has been stuck
for ``[alerts] stuck_minutes``, WARNING from half of that on, OK otherwise; the command's exit
status is the worst part's (0 OK, 1 WARNING, 2 CRITICAL), as monitoring plugins expect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from intake.config import Config
from intake.models import MailboxState, OutboxMail, RawMessage
from intake.processor_handle import HEALTH_STALE_SECONDS, read_published
from intake.states import OutboxState, RawState
from intake.text import elapsed


class Level(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2


@dataclass(frozen=True)
class Part:
    part: str
    level: Level
    detail: str
    age_s: float | None = None

    def line(self) -> str:
        return f"{self.level.name} {self.part}: {self.detail}"

    def as_json(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "state": self.level.name,
            "detail": self.detail,
            "age_s": None if self.age_s is None else round(self.age_s, 1),
        }


class Judge:
    """Ages against ``[alerts] stuck_minutes``."""

    def __init__(self, config: Config) -> None:
        self.stuck = timedelta(minutes=config.alerts.stuck_minutes).total_seconds()

    def level(self, age: float) -> Level:
        if age >= self.stuck:
            return Level.CRITICAL
        return Level.WARNING if age >= self.stuck / 2 else Level.OK


def database_part(session: Session) -> Part:
    session.execute(text("SELECT 1"))
    return Part("database", Level.OK, "answers")


def processor_part(config: Config) -> Part:
    state = read_published(config.home_path)
    age = state["heartbeat_age_s"]
    if not state["alive"]:
        return Part("processor", Level.CRITICAL, "not running (is `uketsuke run` up?)", age)
    if age is None:
        return Part("processor", Level.WARNING, "started, no heartbeat yet")
    if age > HEALTH_STALE_SECONDS:
        return Part("processor", Level.CRITICAL, f"no heartbeat for {elapsed(age)}", age)
    restarts = state["restarts"]
    return Part("processor", Level.OK, f"heartbeat {age:.0f} s ago, {restarts} restart(s)", age)


def oldest_undelivered(session: Session, now: datetime) -> datetime | None:
    """When the longest-waiting pending mail was first due: a mail due now and never tried, or
    one the relay refused (its back-off moved ``due_at`` on; it counts from when it was first
    due, ``responder.outbox.first_due``: a failing relay must not look like a future mail)."""
    due = session.scalar(
        select(func.min(OutboxMail.due_at)).where(
            OutboxMail.state == OutboxState.PENDING,
            OutboxMail.due_at <= now,
            OutboxMail.attempts == 0,
        )
    )
    retried = session.execute(
        select(OutboxMail.created_at, OutboxMail.payload)
        .where(OutboxMail.state == OutboxState.PENDING, OutboxMail.attempts > 0)
        .order_by(OutboxMail.created_at)
        .limit(50)
    ).all()
    firsts = [_first_due(created, payload) for created, payload in retried]
    return min([t for t in (due, *firsts) if t is not None], default=None)


def _first_due(created: datetime, payload: dict[str, Any] | None) -> datetime:
    first = (payload or {}).get("due_at")
    return datetime.fromisoformat(first) if first else created


def outbox_part(session: Session, judge: Judge, now: datetime) -> Part:
    oldest = oldest_undelivered(session, now)
    failed = session.scalar(
        select(func.count()).select_from(OutboxMail).where(OutboxMail.state == OutboxState.FAILED)
    )
    if oldest is None:
        level, detail, age = Level.OK, "nothing due", None
    else:
        age = max((now - oldest).total_seconds(), 0.0)
        level, detail = judge.level(age), f"oldest due mail waits {elapsed(age)}"
    if failed:
        level = max(level, Level.WARNING)
        detail += f"; {failed} failed (`uketsuke outbox list --state failed`)"
    return Part("outbox", level, detail, age)


def waiting_part(session: Session, judge: Judge, now: datetime) -> Part:
    oldest = session.scalar(
        select(func.min(RawMessage.received_at)).where(
            RawMessage.state == RawState.RECEIVED,
            or_(RawMessage.not_before.is_(None), RawMessage.not_before <= now),
        )
    )
    if oldest is None:
        return Part("waiting", Level.OK, "no stored message waits")
    age = (now - oldest).total_seconds()
    return Part("waiting", judge.level(age), f"oldest stored message waits {elapsed(age)}", age)


def mailbox_parts(session: Session, config: Config, judge: Judge, now: datetime) -> list[Part]:
    known = {row.name: row for row in session.scalars(select(MailboxState))}
    parts = []
    for mailbox in config.imap:
        name = f"imap {mailbox.name}"
        state = known.get(mailbox.name)
        last = state.last_success_at if state is not None else None
        if last is None:
            parts.append(Part(name, Level.WARNING, "never polled successfully"))
            continue
        age = (now - last).total_seconds()
        parts.append(Part(name, judge.level(age), f"last successful poll {elapsed(age)} ago", age))
    return parts


def check(session: Session | None, config: Config, now: datetime) -> list[Part]:
    """Every part; ``session`` None when the database could not be reached."""
    judge = Judge(config)
    parts = [processor_part(config)]
    if session is None:
        return [Part("database", Level.CRITICAL, "unavailable"), *parts]
    try:
        parts.insert(0, database_part(session))
    except Exception:  # noqa: BLE001 - any failure to reach it is "unavailable"
        return [Part("database", Level.CRITICAL, "unavailable"), *parts]
    return [
        *parts,
        outbox_part(session, judge, now),
        *mailbox_parts(session, config, judge, now),
        waiting_part(session, judge, now),
    ]


def worst(parts: list[Part]) -> Level:
    return max((p.level for p in parts), default=Level.OK)
