"""Response targets: when an answer is due, in business hours (docs/staff.md, "Response targets").

A new incident's first answer is due ``first_response_hours`` business hours after it was received
(``first_response_due``); ``response_due`` is the answer outstanding now: the first response's due
time until staff answer, then None, then a follow-up's due time (``follow_up_response_hours``
after the follow-up) when the customer writes again with nothing due. So *overdue* is one
comparison, ``response_due < now``. A staff answer or a close clears it; a ``#note`` does not.

Each due time has one ``timed_actions`` row of kind ``sla_due`` (R16: a restart loses nothing):
due first at the warning (``warn_before_minutes`` business minutes before), then at the due time
itself (``scheduler.slatimers``). Clearing or replacing the due time cancels it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session

from intake.fastsql import Prebuilt
from intake.models import Incident, TimedAction
from scheduler.businesstime import add_business_time
from scheduler.calendar import format_instant

if TYPE_CHECKING:
    from intake.config import Config
    from intake.incidents import Accepted

SLA_KIND = "sla_due"
WARNING, BREACH = "warning", "breach"
FIRST, FOLLOW_UP = "first", "follow_up"

_INSERT_TIMER = Prebuilt(insert(TimedAction.__table__))
_CANCEL_TIMERS = Prebuilt(
    update(TimedAction.__table__)
    .where(
        TimedAction.__table__.c.incident_id == bindparam("target"),
        TimedAction.__table__.c.kind == SLA_KIND,
        TimedAction.__table__.c.state == "pending",
    )
    .values(state="cancelled", done_at=bindparam("now"))
)


@dataclass(frozen=True)
class Target:
    """A due time and when its timer first fires (the warning, or the due time itself)."""

    target: str  # FIRST | FOLLOW_UP
    due: datetime
    fires_at: datetime

    def timer_row(self, incident_id: int, now: datetime) -> dict[str, Any]:
        stage = WARNING if self.fires_at < self.due else BREACH
        return {
            "kind": SLA_KIND,
            "due_at": self.fires_at,
            "state": "pending",
            "incident_id": incident_id,
            "inquiry_id": None,
            "payload": {"target": self.target, "due": self.due.isoformat(), "stage": stage},
            "attempts": 0,
            "created_at": now,
        }


# The last target computed: accept asks for a new incident's first due time twice (for the
# incident's row, then for its timer), and business time is the costly part (intake hot path).
# The config itself is kept, and compared by identity: keyed by ``id(config)``, a config freed
# and a new one made at the same address (a reload, a test after another) got the old answer.
_last: tuple[Config, tuple[str, datetime, str], Target | None] | None = None


def target_after(config: Config, profile: str, received: datetime, target: str) -> Target | None:
    """The due time of ``target`` for a message received at ``received``; None when the
    profile's target is 0 (off)."""
    global _last
    key = (profile, received, target)
    last = _last
    if last is not None and last[0] is config and last[1] == key:
        return last[2]
    found = _target_after(config, profile, received, target)
    _last = (config, key, found)
    return found


def _target_after(config: Config, profile: str, received: datetime, target: str) -> Target | None:
    terms = config.profile(profile)
    hours = terms.first_response_hours if target == FIRST else terms.follow_up_response_hours
    if not hours:
        return None
    calendar = terms.calendar()  # built once per profile: cheap on the intake path
    amount = timedelta(hours=hours)
    due = add_business_time(calendar, received, amount)
    warn = timedelta(minutes=terms.warn_before_minutes)
    fires_at = add_business_time(calendar, received, max(amount - warn, timedelta(0)))
    return Target(target, due, fires_at if warn else due)


def first_due(config: Config, profile: str, received: datetime) -> datetime | None:
    """A new incident's ``first_response_due`` (and ``response_due``), written with its row."""
    planned = target_after(config, profile, received, FIRST)
    return planned.due if planned is not None else None


def start_first_response(accepted: Accepted) -> None:
    """After accept: the timer of every new incident's first due time (one INSERT; the due time
    itself went into the incident's row, ``first_due``)."""
    intake = accepted.intake
    planned = target_after(accepted.config, intake.profile, intake.received_at, FIRST)
    if planned is None or not accepted.incidents:
        return
    connection = accepted.session.connection()
    numbers = [created.id for created in accepted.incidents]
    _INSERT_TIMER.many(connection, [planned.timer_row(n, accepted.now) for n in numbers])


def followed_up(
    session: Session, config: Config, incident: Incident, received: datetime, now: datetime
) -> None:
    """A customer's follow-up: with nothing due (answered, or reopened), the answer to it is due
    ``follow_up_response_hours`` after it; while an answer is due, that due time stands."""
    if incident.response_due is not None:
        return
    planned = target_after(config, incident.profile, received, FOLLOW_UP)
    if planned is None:
        return
    incident.response_due = planned.due
    _INSERT_TIMER.run(session.connection(), planned.timer_row(incident.id, now))


def answered(session: Session, incident: Incident, now: datetime) -> None:
    """A staff answer: nothing is due any more, and the first response is recorded."""
    if incident.first_response_at is None:
        incident.first_response_at = now
    cleared(session, incident, now)


def cleared(session: Session, incident: Incident, now: datetime) -> None:
    """Nothing is due (an answer, a close): the pending timer is cancelled."""
    incident.response_due = None
    _CANCEL_TIMERS.run(session.connection(), {"target": incident.id, "now": now})


def is_overdue(incident: Incident, now: datetime) -> bool:
    """An answer is due and its time has passed (``Incident.response_due < now`` in SQL)."""
    return incident.response_due is not None and incident.response_due < now


def targets_json(incident: Incident, now: datetime) -> dict[str, Any]:
    """The response-target keys of an incident's JSON (``incidents show/list --json``)."""
    return {
        "first_response_due": _instant(incident.first_response_due),
        "response_due": _instant(incident.response_due),
        "first_response_at": _instant(incident.first_response_at),
        "overdue": is_overdue(incident, now),
    }


def _instant(value: datetime | None) -> str | None:
    return format_instant(value) if value is not None else None


