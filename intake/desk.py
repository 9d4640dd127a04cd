"""Who handles an incident (担当者): assignment by hand, by an answer and in turn (docs/staff.md,
"担当と二重対応防止").

An incident has one assignee (a staff account's address) or none. Every assignment is audited
(``assign``) and bumps the incident's ``version``, so an answer form opened before it is checked
again (``intake.collision``). A staff answer to an unassigned incident assigns it to the one who
answered. With the profile's ``auto_assign = "round_robin"`` each new incident goes to the next
active staff member of the profile who is not away (``staff_users.away_until``, inclusive).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake.audit import AUTOMATIC, audit
from intake.incidents import Accepted
from intake.models import Incident, StaffUser
from scheduler.calendar import to_tokyo


class AssignError(ValueError):
    """An assignment that cannot be made (no such active account for the incident's profile);
    ``ja`` says why in Japanese, for staff mail and the dashboard."""

    def __init__(self, message: str, ja: str | None = None) -> None:
        super().__init__(message)
        self.ja = ja or message


def works_for(member: StaffUser, profile: str) -> bool:
    """An account naming no profile works for every profile."""
    return member.active and (not member.profiles or profile in member.profiles)


def is_away(member: StaffUser, today: date) -> bool:
    """Away through ``away_until`` (inclusive)."""
    return member.away_until is not None and today <= member.away_until


def find_member(session: Session, email: str) -> StaffUser | None:
    return session.scalars(
        select(StaffUser).where(func.lower(StaffUser.email) == email.strip().lower())
    ).one_or_none()


def assignable(session: Session, incident: Incident, email: str) -> StaffUser:
    """The active account ``email`` of the incident's profile, or :class:`AssignError`."""
    member = find_member(session, email)
    if member is None or not member.active:
        raise AssignError(
            f"{email}: no active staff account",
            f"{email} は有効なスタッフアカウントではありません。",
        )
    if not works_for(member, incident.profile):
        raise AssignError(
            f"{email} does not work for the profile {incident.profile}",
            f"{email} はこのインシデントのプロファイルの担当ではありません。",
        )
    return member


def assign(
    session: Session,
    incident: Incident,
    email: str | None,
    *,
    by: str,
    now: datetime,
    how: str = "manual",
) -> bool:
    """Give the incident to ``email`` (None: unassigned); False when nothing changed."""
    email = email.lower() if email else None
    if (incident.assignee or None) == email:
        return False
    incident.assignee = email
    incident.assigned_at = now
    incident.version = (incident.version or 0) + 1
    incident.updated_at = now
    detail = {"assignee": email, "how": how}
    audit(session, "assign", actor=by, incident=incident.id, at=now, detail=detail)
    return True


def answered(session: Session, incident: Incident, staff: StaffUser, now: datetime) -> None:
    """A staff answer was queued: the version moves on, an unassigned incident becomes the
    answerer's, and their draft claim ends."""
    incident.version = (incident.version or 0) + 1
    if incident.assignee is None:
        assign(session, incident, staff.email, by=staff.email, now=now, how="answer")
    if (incident.draft_by or "").lower() == staff.email.lower():
        incident.draft_by = None
        incident.draft_at = None


def next_in_turn(session: Session, profile: str, now: datetime, before: int) -> StaffUser | None:
    """Round robin: the staff member of ``profile`` after the assignee of the newest earlier
    assigned incident of the profile (by account id, wrapping), skipping those away."""
    today = to_tokyo(now).date()
    members = [
        m
        for m in session.scalars(select(StaffUser).order_by(StaffUser.id))
        if works_for(m, profile) and not is_away(m, today)
    ]
    if not members:
        return None
    last = session.scalars(
        select(Incident.assignee)
        .where(Incident.profile == profile, Incident.assignee.is_not(None), Incident.id < before)
        .order_by(Incident.id.desc())
        .limit(1)
    ).first()
    previous = find_member(session, last) if last else None
    if previous is None:
        return members[0]
    return next((m for m in members if m.id > previous.id), members[0])


def auto_assign(accepted: Accepted) -> None:
    """The after-accept step: with ``auto_assign = "round_robin"``, each new incident in turn."""
    terms = accepted.config.profile(accepted.intake.profile)
    if terms.auto_assign != "round_robin":
        return
    session = accepted.session
    for created in accepted.incidents:
        incident = session.get(Incident, created.id)
        assert incident is not None
        session.flush()
        member = next_in_turn(session, incident.profile, accepted.now, incident.id)
        if member is not None:
            how = "round_robin"
            assign(session, incident, member.email, by=AUTOMATIC, now=accepted.now, how=how)
