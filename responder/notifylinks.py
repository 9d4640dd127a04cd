"""What ties a staff notification to the rest of the desk (R20): its thread, the dashboard link,
the attachments of the customer's mail and the linked earlier incident.

Each incident's notifications to one staff member form one thread in the mail client: every
follow-up's notification answers (In-Reply-To, References) the first notification that member got
for the incident. Pure helpers and one read each; ``responder.staffnotify`` calls them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.config import Config
from intake.incidenttag import incident_tag
from intake.models import Incident, OutboxMail
from intake.states import OutboxKind
from responder.queue import Thread

if TYPE_CHECKING:
    from responder.staffnotify import StaffRecipient


NO_NAME = "（名前なし）"


class Attachment(Protocol):
    filename: str | None
    content_type: str
    size: int


def first_notifications(session: Session, incident_id: int) -> dict[str, str]:
    """The Message-ID of the first notification each address got for the incident."""
    first: dict[str, str] = {}
    rows = session.execute(
        select(OutboxMail.recipients, OutboxMail.message_id)
        .where(
            OutboxMail.incident_id == incident_id,
            OutboxMail.kind == OutboxKind.STAFF_NOTIFY,
            OutboxMail.message_id.is_not(None),
        )
        .order_by(OutboxMail.id)
    )
    for recipients, message_id in rows:
        for address in recipients:
            first.setdefault(address.lower(), message_id)
    return first


def thread_for(first: dict[str, str], recipient: StaffRecipient) -> Thread:
    """Under the recipient's first notification of the incident; a new thread without one."""
    parent = first.get(recipient.address.lower())
    return Thread(in_reply_to=parent, references=[parent]) if parent else Thread()


def dashboard_url(config: Config, incident_id: int) -> str | None:
    """The incident's page on the dashboard, when the desk set the address staff reach it at."""
    if not config.web.public_url:
        return None
    return f"{config.web.base_url}/staff/incidents/{incident_id}"


def attachment_lines(attachments: Iterable[Attachment]) -> list[str]:
    """``報告書.pdf（application/pdf、12,345 バイト）`` per attachment of the customer's mail."""
    return [f"{a.filename or NO_NAME}（{a.content_type}、{a.size:,} バイト）" for a in attachments]


def linked_incident(session: Session, config: Config, incident: Incident) -> str | None:
    """The earlier incident this one follows (a follow-up after the reopen window, R19): its tag
    and summary."""
    if incident.linked_incident_id is None:
        return None
    earlier = session.get(Incident, incident.linked_incident_id)
    if earlier is None:
        return None
    tag = incident_tag(earlier.id, config.profile(earlier.profile).tag_prefix)
    return f"{tag} {earlier.first_line}"
