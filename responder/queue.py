"""Queueing a mail: the one way a mail to a customer or to staff enters the outbox.

:func:`queue_mail` renders the mail's template (templates/mail), gives it a Message-ID of the
profile's support domain, composes it (``responder.compose``: sender, threading, charset, loop
headers) and adds its outbox row in the caller's transaction (``responder.outbox``), so every mail
is made the same way. Its :class:`Voice` says who speaks: the ``Auto-Submitted`` header, the
sender's name, and whether R27's hourly limit counts the mail and holds it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy.orm import Session

from intake.audit import audit
from intake.config import Config
from intake.filelimits import AttachedFile
from intake.states import OutboxKind
from responder.compose import OutgoingMail, compose, new_message_id
from responder.outbox import automatic_mails_in_last_hour, queue_bytes
from responder.templates import render_mail

# The audit action of an automatic mail held back by R27's hourly limit.
SUPPRESSED = "mail_suppressed"


@dataclass
class Thread:
    """Where an outgoing mail hangs in the customer's thread."""

    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Voice:
    """Who a mail speaks for, and so how it is marked and counted."""

    auto_submitted: str | None  # RFC 3834 ``Auto-Submitted``; None: a person's mail
    rate_limited: bool  # R27: counted against the recipient's hourly limit, held back over it
    staff: bool = False  # internal: from "uketsuke <profile>", never to a customer


# Acknowledgments and notices to customers, in reply to their mail.
AUTO_REPLY = Voice("auto-replied", rate_limited=True)
# A staff member's answer relayed: a person's mail, never held back.
PERSON = Voice(None, rate_limited=False)
# Sent on a schedule, not in reply to the mail itself (the license key); the customer asked.
SCHEDULED = Voice("auto-generated", rate_limited=False)
# Staff mail: internal, never counted against a customer's limit.
STAFF = Voice("auto-generated", rate_limited=False, staff=True)


class Content(TypedDict, total=False):
    """What a mail says: ``template`` rendered with ``context``, or ``subject`` and ``body`` as
    written; where it hangs in the customer's thread; a Reply-To (a staff token, R20)."""

    template: str
    context: Mapping[str, Any]
    subject: str
    body: str
    thread: Thread
    reply_to: str | None
    attachments: list[AttachedFile]


def mail_bytes(
    config: Config,
    profile: str,
    *,
    to: list[str],
    message_id: str,
    date: datetime,
    voice: Voice = AUTO_REPLY,
    kind: str = "",
    **content: Unpack[Content],
) -> bytes:
    """The mail's bytes, from the support address: its template is rendered with its context
    and the profile's name, support address and tag prefix."""
    terms = config.profile(profile)
    subject, body = content.get("subject", ""), content.get("body", "")
    if "template" in content:
        subject, body = render_mail(
            content["template"],
            **{
                "profile_name": terms.display_name or profile,
                "support_address": terms.support_address,
                "tag_prefix": terms.tag_prefix,
                **content.get("context", {}),
            },
        )
    thread = content.get("thread", Thread())
    return compose(
        OutgoingMail(
            sender=terms.support_address,
            sender_name=(
                f"uketsuke {terms.display_name or profile}" if voice.staff else terms.display_name
            ),
            to=to,
            subject=subject,
            body=body,
            message_id=message_id,
            date=date,
            in_reply_to=thread.in_reply_to,
            references=thread.references,
            automatic=voice.auto_submitted,
            charset=terms.outgoing_charset,
            profile=profile,
            reply_to=content.get("reply_to"),
            kind=kind,
            attachments=content.get("attachments", []),
        )
    )


def queue_mail(
    session: Session,
    config: Config,
    profile: str,
    *,
    kind: OutboxKind,
    to: list[str],
    now: datetime,
    voice: Voice = AUTO_REPLY,
    incident_id: int | None = None,
    due_at: datetime | None = None,
    payload: dict[str, Any] | None = None,
    **content: Unpack[Content],
) -> str | None:
    """Render, compose and queue one mail of ``kind`` (:func:`mail_bytes`) in the caller's
    transaction; its Message-ID, or None when there is nobody to write to or R27's hourly limit
    holds it back (recorded in the audit log, never silently). ``payload``: what a send-time
    hook needs (``responder.outbox.SendHook``)."""
    if not to:
        return None
    if voice.rate_limited and _over_limit(session, config, to[0], kind, incident_id, now):
        return None
    message_id = new_message_id(config.profile(profile).support_address)
    queue_bytes(
        session,
        kind=kind,
        profile=profile,
        recipients=to,
        data=mail_bytes(
            config,
            profile,
            to=to,
            message_id=message_id,
            date=now,
            voice=voice,
            kind=kind,
            **content,
        ),
        message_id=message_id,
        now=now,
        due_at=due_at,
        incident_id=incident_id,
        automatic=voice.rate_limited,
        payload=payload,
    )
    return message_id


def _over_limit(
    session: Session,
    config: Config,
    recipient: str,
    kind: OutboxKind,
    incident_id: int | None,
    now: datetime,
) -> bool:
    """R27: the recipient had their automatic mails of the hour; recorded (no address, R26) and
    counted by ``uketsuke status``."""
    limit = config.outbox.auto_mails_per_sender_per_hour
    if automatic_mails_in_last_hour(session, recipient, now) < limit:
        return False
    audit(
        session,
        SUPPRESSED,
        incident=incident_id,
        at=now,
        detail={"kind": kind, "reason": "rate_limit", "limit": limit},
    )
    return True
