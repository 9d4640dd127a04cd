"""Staff act on an incident: answer, note, close, split, category, cause, time (R17–R20, R23).

One code path for every way staff act — a mailed answer (``intake.steps.staff``), the command
line (``uketsuke incidents reply/close``) and, later, the dashboard — so the rules hold alike:
an answer is relayed by email only (R10), starts the auto-close timer (R18), and every action is
audited (R26). Runs in the caller's transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from intake import targets
from intake.answerfiles import keep_files
from intake.answerhold import after_answers, before_answer, cancel_auto_close, hold
from intake.audit import audit
from intake.canned import fill_canned
from intake.config import Config
from intake.desk import AssignError, answered, assign, assignable
from intake.fieldnames import stated_fields
from intake.filelimits import AttachedFile
from intake.models import Incident, IncidentMessage, StaffUser
from intake.staffcommands import CommandError, StaffAnswer, reason_ja
from intake.states import IncidentFlag, IncidentState
from intake.submission import Intake, Item


def act(
    session: Session,
    config: Config,
    incident: Incident,
    staff: StaffUser,
    answer: StaffAnswer,
    now: datetime,
    *,
    message_id: str | None = None,
    raw_message_id: int | None = None,
) -> list[str]:
    """Carry out a staff member's answer and commands; returns what was done, one word each.

    Raises :class:`CommandError` (nothing done) when the answer cannot be acted on."""
    fill_canned(session, config, incident, staff, answer, now)
    ordered = answer.take or answer.assign
    if not (answer.text or answer.close or answer.category or answer.cause or answer.minutes):
        if ordered:
            return [_assign_by_command(session, incident, staff, answer, now)]
        raise CommandError(
            "the answer is empty (write the answer above the quoted notification)",
            "回答が空です。引用された通知より上に回答を書いてください。",
        )
    if answer.split and not answer.text:
        raise CommandError(
            "#split needs the text of the new incident below the command",
            "#split の下の行に、新しいインシデントの本文を書いてください。",
        )
    if (answer.text and not (answer.note or answer.split)) and not incident.reply_address:
        raise CommandError(
            "the incident has no reply address (no_reply_address): find the customer's address"
            " first; nothing was sent",
            "このインシデントにはお客様の返信先がありません。先にお客様のアドレスを確認して"
            "ください。何も送信していません。",
        )
    done: list[str] = [_assign_by_command(session, incident, staff, answer, now)] if ordered else []
    files, raw = answer.attachments, raw_message_id
    _set_fields(session, incident, staff, answer, now, done)
    if answer.text and answer.note:
        _record(session, incident, staff, "note", answer.text, now, message_id, raw, files)
        audit(session, "staff_note", actor=staff.email, incident=incident.id, at=now)
        done.append("note")
    elif answer.text and answer.split:
        done.append(f"split:#{split(session, config, incident, staff, answer.text, now)}")
    elif answer.text:
        relay(session, config, incident, staff, answer.text, now, raw, files)
        done.append("answer")
    if answer.close:
        close(session, config, incident, now, by=staff.email)
        done.append("close")
    return done


def _assign_by_command(
    session: Session, incident: Incident, staff: StaffUser, answer: StaffAnswer, now: datetime
) -> str:
    """``#take`` / ``#assign EMAIL``: the incident's assignee (docs/staff.md)."""
    email = staff.email if answer.take else answer.assign or ""
    try:
        member = assignable(session, incident, email)
    except AssignError as exc:
        raise CommandError(f"#assign: {exc}", f"#assign: {reason_ja(exc)}") from None
    assign(session, incident, member.email, by=staff.email, now=now)
    return f"assign:{member.email}"


def _set_fields(
    session: Session,
    incident: Incident,
    staff: StaffUser,
    answer: StaffAnswer,
    now: datetime,
    done: list[str],
) -> None:
    if answer.category:
        incident.category = answer.category
        flag = IncidentFlag.OUT_OF_SCOPE  # set with the category of the same name (R5)
        flags = [f for f in incident.flags if f != flag]
        incident.flags = [*flags, flag] if answer.category == "out_of_scope" else flags
        done.append(f"category:{answer.category}")
    if answer.cause:
        incident.cause = answer.cause
        done.append(f"cause:{answer.cause}")
    if answer.minutes:
        incident.minutes_worked = (incident.minutes_worked or 0) + answer.minutes
        done.append(f"time:{answer.minutes}m")
    if answer.category or answer.cause or answer.minutes:
        incident.updated_at = now
        audit(
            session,
            "staff_update",
            actor=staff.email,
            incident=incident.id,
            at=now,
            detail={"category": answer.category, "cause": answer.cause, "minutes": answer.minutes},
        )


def _record(
    session: Session,
    incident: Incident,
    staff: StaffUser,
    direction: str,
    body: str,
    now: datetime,
    message_id: str | None,
    raw_message_id: int | None,
    files: Sequence[AttachedFile] = (),
) -> None:
    message = IncidentMessage(
        incident_id=incident.id,
        direction=direction,
        raw_message_id=raw_message_id,
        message_id=message_id,
        author=staff.email,
        body=body,
        created_at=now,
    )
    session.add(message)
    if files and raw_message_id is None:  # a mailed answer's files stay in its stored mail
        keep_files(session, message, files, now)


def relay(
    session: Session,
    config: Config,
    incident: Incident,
    staff: StaffUser,
    text: str,
    now: datetime,
    raw_message_id: int | None = None,
    attachments: Sequence[AttachedFile] = (),
) -> str:
    """R20: the answer goes to the customer by email (R10) with the staff member's files, after
    its hold and approval (``intake.answerhold``, ``intake.approval``); R18: the auto-close
    clock starts when it is sent."""
    from intake.approval import ask_approval
    from intake.closelink import close_url
    from responder.answers import queue_answer

    prior = before_answer(session, incident)
    incident.close_nonce = secrets.token_hex(16)  # R17: older one-click links are void
    link, until = close_url(config, incident.id, incident.close_nonce, now)
    sent = queue_answer(
        session,
        config,
        incident,
        staff_name=staff.name,
        text=text,
        now=now,
        close_link=link,
        close_until=until,
        attachments=attachments,
    )
    _record(session, incident, staff, "out", text, now, sent, raw_message_id, attachments)
    cancel_auto_close(session, incident, now)
    answered(session, incident, staff, now)  # the desk: version, assignee, draft claim
    incident.state = IncidentState.ANSWERED
    incident.closed_at = None
    incident.last_staff_answer_at = now
    incident.updated_at = now
    targets.answered(session, incident, now)  # response targets: nothing is due now
    audit(session, "staff_answer", actor=staff.email, incident=incident.id, at=now)
    row = hold(session, config, incident, staff.email, sent, prior, now)
    ask_approval(session, config, incident, staff, row, text, now)
    return sent


def close(
    session: Session,
    config: Config,
    incident: Incident,
    now: datetime,
    *,
    by: str,
    auto: bool = False,
) -> bool:
    """R17/R18: close (once) and tell the customer; False when it was closed already."""
    from responder.answers import queue_closed

    if incident.state == IncidentState.CLOSED:
        return False
    incident.state = IncidentState.CLOSED
    incident.closed_at = now
    incident.updated_at = now
    incident.close_nonce = None
    cancel_auto_close(session, incident, now)
    targets.cleared(session, incident, now)  # response targets: nothing due when closed
    notice = queue_closed(session, config, incident, now=now, auto=auto)
    if notice is not None:
        after_answers(session, incident.id, notice)  # a #close given with a held answer
    audit(session, "auto_close" if auto else "close", actor=by, incident=incident.id, at=now)
    return True


def split(
    session: Session,
    config: Config,
    incident: Incident,
    staff: StaffUser,
    text: str,
    now: datetime,
) -> int:
    """R3/R4: the text becomes a new incident of the same customer, through the same accept
    (it consumes one incident, and the customer is acknowledged by email)."""
    from intake.accept import accept
    from intake.mail.classify import categorize, is_urgent

    fields = stated_fields(incident.fields)
    if incident.customer is not None:
        fields["customer_number"] = incident.customer.number
    intake = Intake(
        channel=incident.channel,
        profile=incident.profile,
        fields=fields,
        items=[Item(text, categorize(text), is_urgent("", text))],
        subject=incident.subject,
        received_at=now,
        reply_to=[incident.reply_address] if incident.reply_address else [],
        linked_incident_id=incident.id,
        customer=incident.customer,
    )
    [created] = accept(session, config, intake, now)
    into = {"into": created.id}
    audit(session, "split", actor=staff.email, incident=incident.id, at=now, detail=into)
    return created.id
