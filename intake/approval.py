"""Approval by a senior (上長承認, docs/staff.md "送信保留と上長承認").

An answer by a member marked ``needs_approval``, or one the profile's ``approval_for`` names
(``attachments``: the answer carries files; ``license``/``out_of_scope``: the incident's category
or flag), waits in the outbox as ``awaiting_approval``. Each approver of the profile gets an
``approval_request`` mail whose Reply-To carries their staff token: ``#approve`` sends the answer
(after its hold), ``#return 理由`` sends it back to its author (``approval_returned``) and nothing
reaches the customer. An approver's own answers need no approval. Every step is audited.
"""

from __future__ import annotations

import email
from datetime import datetime, timedelta
from email import policy

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.answerhold import FIRST_DUE, author_of, cancel, unsent_answers
from intake.audit import audit
from intake.config import Config
from intake.incidenttag import incident_tag
from intake.labels import ja_time
from intake.models import Incident, IncidentMessage, OutboxMail, StaffUser
from intake.replykey import reply_key
from intake.stafftoken import reply_address
from intake.states import IncidentFlag, OutboxKind, OutboxState
from responder.queue import STAFF, queue_mail
from responder.staffnotify import REPLY_MARKER, alert_staff, staff_accounts
from scheduler.calendar import to_tokyo

REASONS_JA = {
    "needs_approval": "回答者は上長承認が必要なメンバーです",
    "attachments": "添付ファイル付きの回答です",
    "license": "ライセンスのインシデントへの回答です",
    "out_of_scope": "サポート対象外のインシデントへの回答です",
}


def has_attachments(data: bytes) -> bool:
    """Whether a composed mail carries a file."""
    message = email.message_from_bytes(data, policy=policy.default)
    return any(True for _ in message.iter_attachments()) if message.is_multipart() else False


def approval_reason(
    config: Config, staff: StaffUser, incident: Incident, data: bytes
) -> str | None:
    """Why this answer needs an approver (a key of REASONS_JA), or None."""
    if staff.approver:
        return None
    if staff.needs_approval:
        return "needs_approval"
    kinds = config.profile(incident.profile).approval_for
    if "license" in kinds and incident.category == "license":
        return "license"
    scope = IncidentFlag.OUT_OF_SCOPE
    if "out_of_scope" in kinds and (incident.category == scope or scope in incident.flags):
        return "out_of_scope"
    if "attachments" in kinds and has_attachments(data):
        return "attachments"
    return None


def approvers(session: Session, profile: str) -> list[StaffUser]:
    return [u for u in staff_accounts(session, profile) if u.approver]


def ask_approval(
    session: Session,
    config: Config,
    incident: Incident,
    staff: StaffUser,
    row: OutboxMail,
    text: str,
    now: datetime,
) -> bool:
    """Keep the queued answer for an approver when it needs one; True when it does."""
    reason = approval_reason(config, staff, incident, row.data)
    if reason is None:
        return False
    row.state = OutboxState.AWAITING_APPROVAL
    terms = config.profile(incident.profile)
    tag = incident_tag(incident.id, terms.tag_prefix)
    seniors = approvers(session, incident.profile)
    key = reply_key(config) if seniors else ""
    for senior in seniors:
        queue_mail(
            session,
            config,
            incident.profile,
            kind=OutboxKind.APPROVAL_REQUEST,
            to=[senior.email],
            now=now,
            template="approval_request",
            context={
                "tag": tag,
                "first_line": incident.first_line,
                "reply_marker": REPLY_MARKER,
                "author": staff.name or staff.email,
                "reason": REASONS_JA[reason],
                "written_at": ja_time(now, to_tokyo(now).date()),
                "to": incident.reply_address,
                "text": text,
                "hold_seconds": terms.answer_hold_seconds,
            },
            voice=STAFF,
            incident_id=incident.id,
            reply_to=reply_address(
                terms.support_address,
                key,
                senior.reply_secret,
                senior.id,
                senior.email,
                incident.id,
                to_tokyo(now).date(),
            ),
        )
    if not seniors:  # nobody can pass it: say so rather than let it wait unseen
        alert_staff(
            session,
            config,
            incident.profile,
            subject=f"{tag} 承認者がいないため、回答が承認待ちのままです",
            body=(
                f"{staff.name or staff.email} さんの回答（{tag}）は上長承認が必要ですが、"
                "このプロファイルには承認者が登録されていません。お客様には送信していません。\n\n"
                "管理者が承認者を登録（uketsuke staff set メールアドレス --approver）したあと、"
                "ダッシュボードの「承認待ち」から承認してください。\n"
            ),
            now=now,
            incident_id=incident.id,
        )
    audit(
        session,
        "approval_requested",
        actor=staff.email,
        target=f"outbox:{row.id}",
        at=now,
        detail={"incident": incident.id, "reason": reason, "approvers": len(seniors)},
    )
    return True


class NotApprovable(ValueError):
    """Nothing to approve or send back (one line, shown to the approver)."""


def _waiting(session: Session, row_id: int, approver: StaffUser, profile: str) -> OutboxMail:
    row = session.get(OutboxMail, row_id)
    if row is None or row.kind != OutboxKind.ANSWER:
        raise NotApprovable(f"outbox {row_id} is not a staff answer")
    if row.state != OutboxState.AWAITING_APPROVAL:
        raise NotApprovable(f"outbox {row_id} is {row.state}, not awaiting approval")
    if not approver.approver or (approver.profiles and profile not in approver.profiles):
        raise NotApprovable(f"{approver.email} is not an approver of {profile}")
    return row


def approve(
    session: Session, config: Config, row_id: int, approver: StaffUser, now: datetime
) -> OutboxMail:
    """The answer goes out after its hold (from now); its closing notice, if any, after it."""
    row = session.get(OutboxMail, row_id)
    profile = row.profile if row is not None else ""
    row = _waiting(session, row_id, approver, profile)
    row.state = OutboxState.PENDING
    row.due_at = now + timedelta(seconds=config.profile(row.profile).answer_hold_seconds)
    row.payload = {**(row.payload or {}), FIRST_DUE: row.due_at.isoformat()}
    if row.incident_id is not None:
        for follower in unsent_answers(
            session, row.incident_id, (OutboxState.AWAITING_APPROVAL,), OutboxKind.CLOSED
        ):
            follower.state = OutboxState.PENDING
            follower.due_at = row.due_at + timedelta(seconds=1)
    audit(
        session,
        "answer_approved",
        actor=approver.email,
        target=f"outbox:{row.id}",
        at=now,
        detail={"incident": row.incident_id, "author": author_of(row)},
    )
    return row


def send_back(
    session: Session,
    config: Config,
    row_id: int,
    approver: StaffUser,
    reason: str,
    now: datetime,
) -> OutboxMail:
    """The answer is not sent (``cancelled``, the incident as before it); its author is told why
    in an ``approval_returned`` mail."""
    row = session.get(OutboxMail, row_id)
    _waiting(session, row_id, approver, row.profile if row is not None else "")
    text = session.scalars(  # the author's words, before the cancel marks them
        select(IncidentMessage.body).where(IncidentMessage.message_id == row.message_id)
    ).first()
    row = cancel(session, row_id, now, by=approver.email, action="answer_returned")
    incident = session.get(Incident, row.incident_id) if row.incident_id else None
    author = author_of(row)
    if incident is None or not author:
        return row
    terms = config.profile(incident.profile)
    queue_mail(
        session,
        config,
        incident.profile,
        kind=OutboxKind.APPROVAL_RETURNED,
        to=[author],
        now=now,
        template="approval_returned",
        context={
            "tag": incident_tag(incident.id, terms.tag_prefix),
            "first_line": incident.first_line,
            "approver": approver.name or approver.email,
            "reason": reason.strip() or "（理由の記載なし）",
            "text": text or answer_text(row.data),
        },
        voice=STAFF,
        incident_id=incident.id,
    )
    return row


def answer_text(data: bytes) -> str:
    """A queued answer's text, as the customer reads it."""
    message = email.message_from_bytes(data, policy=policy.default)
    body = message.get_body(("plain",))
    return body.get_content().strip() if body is not None else ""  # type: ignore[union-attr]
