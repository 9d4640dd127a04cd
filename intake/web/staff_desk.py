"""The desk on the dashboard (docs/staff.md, "担当と二重対応防止"): the 担当 column and the
自分の担当 / 未割当 filters of the list, the assignee and the draft claim on the incident page, and
the check that refuses an answer posted after someone else answered or took the incident.

返信を作成 claims the incident for :data:`DRAFT_MINUTES` minutes (``incidents.draft_by`` and
``draft_at``); others see who is writing since when. The answer form carries the incident's
``version`` and when the page was made (``opened``): when the version moved on, an answer or an
assignment by someone else since ``opened`` refuses the answer (``intake.collision``) unless
「それでも送信する」 (``force``) is ticked. No script: plain forms.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from intake.collision import collision_since
from intake.desk import works_for
from intake.labels import ja_short_time
from intake.models import Incident, StaffUser
from intake.web.search import Filters
from intake.web.staff_common import member
from scheduler.calendar import to_tokyo

DRAFT_MINUTES = 10


def assignee_condition(filters: Filters) -> ColumnElement[bool] | None:
    """自分の担当 (``assignee=mine``) or 未割当 (``assignee=none``)."""
    if filters.assignee == "mine":
        return Incident.assignee == member().email.lower()
    if filters.assignee == "none":
        return Incident.assignee.is_(None)
    return None


def staff_names(session: Session) -> dict[str, str]:
    return {u.email.lower(): u.name for u in session.scalars(select(StaffUser))}


def assignable_staff(session: Session, profile: str) -> list[StaffUser]:
    users = session.scalars(select(StaffUser).order_by(StaffUser.id))
    return [u for u in users if works_for(u, profile)]


def draft_notice(incident: Incident, names: dict[str, str], now: datetime) -> str | None:
    """「佐藤 花子さんが返信を作成中（10:31から）」 while someone else's claim holds."""
    by = (incident.draft_by or "").lower()
    if not by or incident.draft_at is None or by == member().email.lower():
        return None
    if now - incident.draft_at >= timedelta(minutes=DRAFT_MINUTES):
        return None
    return f"{names.get(by, by)}さんが返信を作成中（{to_tokyo(incident.draft_at):%H:%M}から）"


def own_draft(incident: Incident, now: datetime) -> bool:
    by = (incident.draft_by or "").lower()
    fresh = incident.draft_at is not None and now - incident.draft_at < timedelta(
        minutes=DRAFT_MINUTES
    )
    return fresh and by == member().email.lower()


def claim(incident: Incident, staff: StaffUser, now: datetime) -> str:
    """返信を作成: the claim is this member's for the next minutes (taken over when stale)."""
    incident.draft_by = staff.email.lower()
    incident.draft_at = now
    return f"返信を作成中です（{DRAFT_MINUTES}分間、他のスタッフに表示されます）"


def desk_page_data(session: Session, incident: Incident, now: datetime) -> dict[str, Any]:
    """What the incident page shows of the desk."""
    names = staff_names(session)
    assignee = (incident.assignee or "").lower()
    return {
        "assignee_name": names.get(assignee, assignee) if assignee else None,
        "assignable": assignable_staff(session, incident.profile),
        "draft_notice": draft_notice(incident, names, now),
        "own_draft": own_draft(incident, now),
        "opened": now.isoformat(),
    }


def stale_answer(session: Session, incident: Incident, staff: StaffUser, form: Any) -> str | None:
    """Why an answer form is stale (someone else answered or took the incident since it was
    opened), in Japanese; None when it may go. A form without a version is not checked."""
    version, opened = form.get("version", ""), form.get("opened", "")
    if form.get("force") or not version.isdigit() or int(version) == (incident.version or 0):
        return None
    try:
        since = datetime.fromisoformat(opened)
    except ValueError:
        since = incident.created_at
    found = collision_since(session, incident, staff.email, since)
    if found is None:
        return None
    if found.assigned:
        at = ja_short_time(found.at)
        what = f"{at}に、このインシデントは{found.name}さんの担当になりました。"
    else:
        what = f"{found.name}さんが{ja_short_time(found.at)}に回答しました:\n{found.answer}\n"
    return (
        f"送信していません（二重対応防止）。このページを開いた後、{what}"
        "それでも送信する場合は「それでも送信する」にチェックして、もう一度送信してください。"
    )
