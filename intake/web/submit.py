"""The web form's door (R7): a submission is stored first, then accepted like any inquiry.

The submission becomes a MIME message (the form as readable text, the form as JSON, the
attachments as sent) stored with channel ``web`` and committed before anything else (R29:
nothing a customer submitted exists only in memory); then it runs through the daemon's own
pipeline at once, so the completion page can show the incident numbers (R3, R8). Should the
daemon's processor take the message first, the page waits briefly for its result.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config
from intake.fieldnames import FIELD_LABELS
from intake.models import Incident, IncidentMessage, Inquiry, RawMessage, RawState
from intake.steps.web import FORM_PART, WEB
from intake.store import store_raw
from intake.web.uploads import Upload

LABELS = {**FIELD_LABELS, "email": "メールアドレス"}
WAIT_FOR_PROCESSOR = 10.0


@dataclass
class Submission:
    """What the customer typed, checked by the form (``intake.web.forms``)."""

    form: str  # "inquiry" | "license"
    profile: str
    fields: dict[str, str]
    email: str
    subject: str
    items: list[str]
    category: str = "other"
    urgent: bool = False
    extra: dict[str, str] = field(default_factory=dict)  # the license form's own fields
    uploads: list[Upload] = field(default_factory=list)


@dataclass
class Outcome:
    raw_id: int
    state: str
    incidents: list[Incident]
    received_at: datetime


def as_message(config: Config, submission: Submission, now: datetime) -> bytes:
    """The submission as a mail-shaped message: readable as text, exact as JSON."""
    terms = config.profile(submission.profile)
    domain = terms.support_address.rpartition("@")[2] or "uketsuke.invalid"
    message = EmailMessage()
    message["From"] = submission.email
    message["To"] = terms.support_address
    message["Subject"] = submission.subject or "ウェブフォームからのお問い合わせ"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<web.{uuid.uuid4().hex}@{domain}>"
    lines = [f"{LABELS[k]}: {submission.fields.get(k, '')}" for k in LABELS if k != "email"]
    lines.append(f"{LABELS['email']}: {submission.email}")
    lines += [f"{k}: {v}" for k, v in submission.extra.items()]
    for number, text in enumerate(submission.items, 1):
        lines += ["", f"お問い合わせ内容 {number}:", text]
    message.set_content("\n".join(lines) + "\n", charset="utf-8")
    form = {
        "form": submission.form,
        "fields": submission.fields,
        "email": submission.email,
        "subject": submission.subject,
        "category": submission.category,
        "urgent": submission.urgent,
        "items": submission.items,
        "extra": submission.extra,
    }
    message.add_attachment(
        json.dumps(form, ensure_ascii=False).encode("utf-8"),
        maintype="application",
        subtype="json",
        filename=FORM_PART,
    )
    for upload in submission.uploads:
        maintype, _, subtype = upload.content_type.partition("/")
        message.add_attachment(
            upload.data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=upload.filename,
        )
    return message.as_bytes()


def submit(
    config: Config,
    sessions: sessionmaker[Session],
    process: object,
    submission: Submission,
    now: datetime,
) -> Outcome:
    """Store (commit), then accept through the pipeline; the incidents it became."""
    data = as_message(config, submission, now)
    stored = store_raw(
        sessions,
        data,
        channel=WEB,
        profile=submission.profile,
        envelope_from=submission.email,
        envelope_to=[config.profile(submission.profile).support_address],
        received_at=now,
    )
    process(stored.id, now)  # type: ignore[operator]
    deadline = time.monotonic() + WAIT_FOR_PROCESSOR
    while True:
        with sessions() as session:
            raw = session.get(RawMessage, stored.id)
            assert raw is not None
            if raw.state != RawState.RECEIVED or time.monotonic() > deadline:
                return Outcome(
                    stored.id, raw.state, _incidents(session, stored.id), raw.received_at
                )
        time.sleep(0.1)


def _incidents(session: Session, raw_id: int) -> list[Incident]:
    """The incidents a stored submission became: directly, or through its held inquiry."""
    direct = select(IncidentMessage.incident_id).where(
        IncidentMessage.raw_message_id == raw_id, IncidentMessage.direction == "in"
    )
    held = select(Inquiry.id).where(Inquiry.raw_message_id == raw_id)
    return list(
        session.scalars(
            select(Incident)
            .where(Incident.id.in_(direct) | Incident.inquiry_id.in_(held))
            .order_by(Incident.id)
        )
    )
