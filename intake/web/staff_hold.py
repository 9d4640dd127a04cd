"""The hold and approval on the dashboard (docs/staff.md, "送信保留と上長承認"): the incident
page lists its answers not sent yet, with 送信取消 (and the seconds left) and, for an approver,
承認して送信 / 差し戻し; the page 承認待ち lists every answer awaiting approval of the member's
profiles. The actions are plain CSRF-checked POST forms run by ``staff_actions.perform`` and go
through the same code as ``outbox cancel`` and the mailed ``#cancel``/``#approve``/``#return``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.answerhold import NotCancellable, author_of, cancel, unsent_answers
from intake.approval import NotApprovable, answer_text, approve, send_back
from intake.models import Incident, OutboxMail, StaffUser
from intake.states import OutboxKind, OutboxState
from intake.web.context import web_context
from intake.web.staff_common import audit_view, member, now, reading, visible


class HoldError(Exception):
    """An action on a held answer that cannot be done; shown to the staff member."""


def _shown(row: OutboxMail, at: datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "incident": row.incident_id,
        "state": row.state,
        "due_at": row.due_at,
        "seconds_left": max(0, int((row.due_at - at).total_seconds())),
        "author": author_of(row),
        "to": ", ".join(row.recipients or []),
        "text": answer_text(row.data),
    }


def held_answers(session: Session, number: int) -> list[dict[str, Any]]:
    """The incident's answers not sent yet (for its page)."""
    at = now()
    return [_shown(row, at) for row in unsent_answers(session, number)]


def _row(session: Session, incident: Incident) -> OutboxMail:
    raw = request.form.get("outbox", "")
    row = None
    if raw.isascii() and raw.isdigit():
        row = session.scalars(
            select(OutboxMail)
            .where(
                OutboxMail.id == int(raw),
                OutboxMail.incident_id == incident.id,
                OutboxMail.kind == OutboxKind.ANSWER,
            )
            .with_for_update()
        ).one_or_none()
    if row is None:
        raise HoldError("このインシデントの回答が見つかりません。")
    return row


def cancel_answer(session: Session, incident: Incident, staff: StaffUser, at: datetime) -> str:
    row = _row(session, incident)
    try:
        cancel(session, row.id, at, by=staff.email)
    except NotCancellable:
        raise HoldError("この回答はすでに送信されたため、取り消せません。") from None
    return "回答の送信を取り消しました（お客様には送信していません）"


def approve_answer(session: Session, incident: Incident, staff: StaffUser, at: datetime) -> str:
    row = _row(session, incident)
    try:
        approve(session, web_context().config, row.id, staff, at)
    except NotApprovable:
        raise HoldError("承認できません（承認者ではないか、承認待ちではありません）。") from None
    return "回答を承認しました（送信保留のあとお客様へ送信します）"


def return_answer(session: Session, incident: Incident, staff: StaffUser, at: datetime) -> str:
    row = _row(session, incident)
    reason = (request.form.get("reason") or "").replace("\r\n", "\n").strip()
    if not reason:
        raise HoldError("差し戻しの理由を入力してください。")
    try:
        send_back(session, web_context().config, row.id, staff, reason[:10_000], at)
    except NotApprovable:
        raise HoldError("差し戻せません（承認者ではないか、承認待ちではありません）。") from None
    return "回答を差し戻しました（お客様には送信せず、回答者に理由を知らせました）"


HOLD_ACTIONS = {
    "cancel_answer": cancel_answer,
    "approve_answer": approve_answer,
    "return_answer": return_answer,
}


def approvals() -> Any:
    """承認待ち: every answer awaiting approval of the member's profiles, oldest first."""
    at = now()
    with reading() as session:
        rows = session.scalars(
            select(OutboxMail)
            .where(
                OutboxMail.kind == OutboxKind.ANSWER,
                OutboxMail.state == OutboxState.AWAITING_APPROVAL,
                visible(OutboxMail.profile),
            )
            .order_by(OutboxMail.id)
        ).all()
        waiting = [_shown(row, at) for row in rows]
        subjects = {
            i.id: i.subject or i.first_line
            for i in session.scalars(
                select(Incident).where(Incident.id.in_([w["incident"] for w in waiting]))
            )
        }
    audit_view("view_approvals", None)
    return render_template(
        "staff/approvals.html",
        title="承認待ち",
        waiting=waiting,
        subjects=subjects,
        can_approve=bool(member().approver),
    )
