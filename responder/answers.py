"""Mail to the customer about an incident: a staff answer relayed, the closing notice (R10,
R17, R18, R20).

An answer goes from the profile's support address to the incident's reply address, threaded to
the customer's latest message (In-Reply-To) and to the whole thread (References), with the tag
in the subject: no token and no staff address is visible to the customer. It is a person's
answer, not an automatic mail: no ``Auto-Submitted``, never held back by R27's hourly limit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.config import Config
from intake.filelimits import AttachedFile
from intake.incidenttag import incident_tag
from intake.models import Incident, IncidentMessage, OutboxMail
from intake.states import OutboxKind, OutboxState
from responder.acks import format_ja
from responder.queue import PERSON, Thread, queue_mail

MAX_REFERENCES = 20
_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|返信|転送)\s*[:：]\s*)+", re.IGNORECASE)


def thread_of(session: Session, incident: Incident) -> Thread:
    """In-Reply-To the customer's latest message, References every message of the incident."""
    rows = session.execute(
        select(IncidentMessage.direction, IncidentMessage.message_id)
        .where(IncidentMessage.incident_id == incident.id, IncidentMessage.message_id.is_not(None))
        .order_by(IncidentMessage.id)
    ).all()
    outgoing = session.scalars(
        select(OutboxMail.message_id)
        .where(
            OutboxMail.incident_id == incident.id,
            OutboxMail.kind.in_((OutboxKind.ACK, OutboxKind.ANSWER)),
            OutboxMail.state != OutboxState.CANCELLED,  # an answer taken back was never sent
        )
        .order_by(OutboxMail.id)
    ).all()
    latest_in = next((m for d, m in reversed(rows) if d == "in"), None)
    references = list(dict.fromkeys([*(m for _, m in rows), *outgoing]))
    return Thread(latest_in, references[-MAX_REFERENCES:])


def clean_subject(subject: str, tag: str) -> str:
    """The customer's subject without reply prefixes and without our tag (it is put first)."""
    return " ".join(_REPLY_PREFIX.sub("", subject.replace(tag, " ")).split()) or "お問い合わせ"


def queue_answer(
    session: Session,
    config: Config,
    incident: Incident,
    *,
    staff_name: str,
    text: str,
    now: datetime,
    close_link: str,
    close_until: datetime,
    attachments: Sequence[AttachedFile] = (),
) -> str:
    """Queue a staff answer to the customer; returns its Message-ID (R10, R20). It carries the
    one-click close link (R17) and says when silence closes the incident (R18), and the staff
    member's files (multipart/mixed)."""
    assert incident.reply_address
    terms = config.profile(incident.profile)
    tag = incident_tag(incident.id, terms.tag_prefix)
    sent = queue_mail(
        session,
        config,
        incident.profile,
        kind=OutboxKind.ANSWER,
        to=[incident.reply_address],
        now=now,
        template="answer",
        context={
            "tag": tag,
            "subject": clean_subject(incident.subject, tag),
            "text": text,
            "staff_name": staff_name,
            "auto_close_hours": terms.auto_close_hours,
            "auto_close_days": f"{terms.auto_close_hours / 24:g}",
            "close_link": close_link,
            "close_until": format_ja(close_until),
        },
        thread=thread_of(session, incident),
        attachments=list(attachments),
        voice=PERSON,  # a person's answer (RFC 3834: not auto-submitted), never held back
        incident_id=incident.id,
    )
    assert sent is not None  # a reply address, and no hourly limit for a person's answer
    return sent


def queue_closed(
    session: Session, config: Config, incident: Incident, *, now: datetime, auto: bool
) -> str | None:
    """R17/R18: tell the customer the incident is closed (auto: after the silent 120 hours)."""
    if not incident.reply_address:
        return None
    terms = config.profile(incident.profile)
    answered = incident.last_staff_answer_at
    return queue_mail(
        session,
        config,
        incident.profile,
        kind=OutboxKind.CLOSED,
        to=[incident.reply_address],
        now=now,
        template="closed",
        context={
            "tag": incident_tag(incident.id, terms.tag_prefix),
            "first_line": incident.first_line,
            "company": incident.fields.get("company"),
            "name": incident.fields.get("name"),
            "auto": auto,
            "answered_at": format_ja(answered) if answered else "",
            "auto_close_hours": terms.auto_close_hours,
            "auto_close_days": f"{terms.auto_close_hours / 24:g}",
        },
        thread=thread_of(session, incident),
        incident_id=incident.id,
    )
