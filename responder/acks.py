"""Automatic mails to customers: acknowledgment, missing-field request, expiry notice.

Japanese templates (templates/mail), threaded to the customer's mail, queued in the outbox in the
caller's transaction. R27: no more than the configured number of automatic mails per recipient
per hour; a mail over the limit is not queued (and the caller records why).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from intake.config import Config
from intake.identify import FIELD_LABELS
from intake.incidents import CreatedIncident
from intake.models import AuditEntry, Incident
from responder.compose import OutgoingMail, compose, new_message_id
from responder.outbox import automatic_mails_in_last_hour, queue_mail
from responder.templates import render_mail
from scheduler.calendar import to_tokyo

WEEKDAY_JA = "月火水木金土日"
# The audit action of an automatic mail held back by R27's hourly limit.
SUPPRESSED = "mail_suppressed"


def format_ja(instant: datetime) -> str:
    """2026年11月24日(火) 17:00 — how a Japanese desk writes a time."""
    t = to_tokyo(instant)
    return f"{t.year}年{t.month}月{t.day}日({WEEKDAY_JA[t.weekday()]}) {t:%H:%M}"


@dataclass
class Thread:
    """Where an outgoing mail hangs in the customer's thread."""

    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)


def _queue(
    session: Session,
    config: Config,
    profile_name: str,
    *,
    kind: str,
    template: str,
    to: list[str],
    thread: Thread,
    now: datetime,
    incident_id: int | None = None,
    subject_prefix: str = "",
    **context: object,
) -> str | None:
    """Render, compose and queue; returns the Message-ID, or None when R27's limit holds it back."""
    if not to:
        return None
    limit = config.outbox.auto_mails_per_sender_per_hour
    if automatic_mails_in_last_hour(session, to[0], now) >= limit:
        # R27: held back, never silently: recorded (no address, R26) and counted by status.
        session.add(
            AuditEntry(
                at=now,
                actor="uketsuke",
                action=SUPPRESSED,
                target=f"incident:{incident_id}" if incident_id else None,
                detail={"kind": kind, "reason": "rate_limit", "limit": limit},
            )
        )
        return None
    profile = config.profile(profile_name)
    subject, body = render_mail(
        template,
        profile_name=profile.display_name or profile_name,
        support_address=profile.support_address,
        tag_prefix=profile.tag_prefix,
        **context,
    )
    message_id = new_message_id(profile.support_address)
    data = compose(
        OutgoingMail(
            sender=profile.support_address,
            sender_name=profile.display_name,
            to=to,
            subject=(subject_prefix + " " + subject).strip(),
            body=body,
            message_id=message_id,
            date=now,
            in_reply_to=thread.in_reply_to,
            references=thread.references,
            charset=profile.outgoing_charset,
            profile=profile_name,
        )
    )
    queue_mail(
        session,
        kind=kind,
        profile=profile_name,
        recipients=to,
        data=data,
        message_id=message_id,
        now=now,
        incident_id=incident_id,
    )
    return message_id


def tags(config: Config, profile_name: str, incidents: Sequence[Incident | CreatedIncident]) -> str:
    prefix = config.profile(profile_name).tag_prefix
    return "".join(f"[{prefix}{i.id}]" for i in incidents)


def queue_ack(
    session: Session,
    config: Config,
    profile_name: str,
    *,
    to: list[str],
    incidents: Sequence[Incident | CreatedIncident],
    received_at: datetime,
    now: datetime,
    thread: Thread,
    fields: dict[str, str | None],
    non_japanese: bool = False,
) -> str | None:
    """R3 incidents listed, R8 received time and handling start, R6 and R25 notes."""
    calendar = config.profile(profile_name).calendar()
    starts = calendar.next_open(received_at)
    flags = {f for i in incidents for f in i.flags}
    return _queue(
        session,
        config,
        profile_name,
        kind="ack",
        template="ack",
        to=to,
        thread=thread,
        now=now,
        incident_id=incidents[0].id if incidents else None,
        tags=tags(config, profile_name, incidents),
        incidents=[{"number": i.id, "first_line": i.first_line} for i in incidents],
        received_at=format_ja(received_at),
        open_now=calendar.is_open(received_at),
        handling_starts=format_ja(starts),
        company=fields.get("company"),
        name=fields.get("name"),
        non_japanese=non_japanese,
        support_lapsed="support_lapsed" in flags,
        domain_mismatch="domain_mismatch" in flags,
    )


def queue_ask_fields(
    session: Session,
    config: Config,
    profile_name: str,
    *,
    to: list[str],
    missing: list[str],
    unknown: list[str],
    received_at: datetime,
    expires_at: datetime,
    now: datetime,
    thread: Thread,
    fields: dict[str, str | None],
    non_japanese: bool = False,
) -> str | None:
    """R2: one mail asking for exactly the missing or unknown fields."""
    items = [{"label": FIELD_LABELS[name], "reason": ""} for name in missing]
    items += [
        {"label": FIELD_LABELS[name], "reason": "ご登録が確認できませんでした"} for name in unknown
    ]
    return _queue(
        session,
        config,
        profile_name,
        kind="ask_fields",
        template="ask_fields",
        to=to,
        thread=thread,
        now=now,
        items=items,
        received_at=format_ja(received_at),
        expires_at=format_ja(expires_at),
        company=fields.get("company"),
        name=fields.get("name"),
        non_japanese=non_japanese,
    )


def queue_held_expired(
    session: Session,
    config: Config,
    profile_name: str,
    *,
    to: list[str],
    received_at: datetime,
    now: datetime,
    thread: Thread,
) -> str | None:
    return _queue(
        session,
        config,
        profile_name,
        kind="held_expired",
        template="held_expired",
        to=to,
        thread=thread,
        now=now,
        received_at=format_ja(received_at),
        days=config.intake.held_expiry_days,
    )
