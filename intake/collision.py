"""No double answers (二重対応防止): has someone else answered or taken the incident since?

A staff member answers from what they saw: a notification mail, or the dashboard's answer form.
Their answer is relayed only if, since then, nobody else has answered the incident and it has not
been assigned to someone else (docs/staff.md, "担当と二重対応防止"). An answer counts from the
moment it is queued, also while it waits in the outbox (pending or awaiting approval); an answer
whose mail was cancelled does not count. ``#force`` on an answer's first line skips the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from intake.models import Incident, IncidentMessage, OutboxMail, StaffUser
from intake.states import OutboxKind, OutboxState

FIRST_LINES = 5


@dataclass(frozen=True)
class Collision:
    """Who got there first: their address and name, when, and the first lines of their answer
    (empty when the incident was assigned to them rather than answered)."""

    by: str
    name: str
    at: datetime
    answer: str

    @property
    def assigned(self) -> bool:
        return not self.answer



def first_lines(text: str, count: int = FIRST_LINES) -> str:
    lines = text.strip("\n").splitlines()
    shown = "\n".join(lines[:count])
    return shown + ("\n…" if len(lines) > count else "")


def _name(session: Session, email: str) -> str:
    member = session.scalars(
        select(StaffUser).where(func.lower(StaffUser.email) == email.lower())
    ).one_or_none()
    return member.name if member is not None else email


def collision_since(
    session: Session, incident: Incident, member_email: str, since: datetime
) -> Collision | None:
    """The first answer by someone other than ``member_email`` queued after ``since`` (its mail
    not cancelled), else an assignment to someone else after ``since``; None: go ahead."""
    me = member_email.lower()
    session.flush()
    other = session.execute(
        select(IncidentMessage.author, IncidentMessage.created_at, IncidentMessage.body)
        .outerjoin(OutboxMail, OutboxMail.message_id == IncidentMessage.message_id)
        .where(
            IncidentMessage.incident_id == incident.id,
            IncidentMessage.direction == "out",
            IncidentMessage.created_at > since,
            IncidentMessage.author.is_not(None),  # not the acknowledgment
            func.lower(IncidentMessage.author) != me,
            or_(OutboxMail.id.is_(None), OutboxMail.state != OutboxState.CANCELLED),
        )
        .order_by(IncidentMessage.id)
        .limit(1)
    ).first()
    if other is not None:
        author, at, body = other
        return Collision(author, _name(session, author), at, first_lines(body))
    assignee = (incident.assignee or "").lower()
    if assignee and assignee != me and incident.assigned_at and incident.assigned_at > since:
        return Collision(assignee, _name(session, assignee), incident.assigned_at, "")
    return None


def notified_at(
    session: Session, incident: Incident, member_email: str, thread_ids: list[str]
) -> datetime | None:
    """When the staff notification an answer replies to was queued: the one its In-Reply-To or
    References name, else the member's latest notification of the incident; None if none."""
    rows = session.execute(
        select(OutboxMail.message_id, OutboxMail.recipients, OutboxMail.created_at)
        .where(OutboxMail.incident_id == incident.id, OutboxMail.kind == OutboxKind.STAFF_NOTIFY)
        .order_by(OutboxMail.id)
    ).all()
    named = [at for mid, _, at in rows if mid in thread_ids]
    if named:
        return max(named)
    me = member_email.lower()
    mine = [at for _, to, at in rows if me in (a.lower() for a in to or [])]
    return mine[-1] if mine else None
