"""Automatic mails to customers: acknowledgment, missing-field request, expiry notice.

Japanese templates (templates/mail), threaded to the customer's mail, queued in the outbox in the
caller's transaction. R27: no more than the configured number of automatic mails per recipient
per hour; a mail over the limit is not queued (``responder.queue`` records why).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from intake.config import Config
from intake.fieldnames import FIELD_LABELS
from intake.incidents import CreatedIncident
from intake.incidenttag import incident_tag
from intake.models import Incident
from intake.states import IncidentFlag, OutboxKind
from responder.queue import SUPPRESSED as SUPPRESSED  # re-exported: uketsuke status counts it
from responder.queue import Thread, queue_mail
from scheduler.calendar import to_tokyo

WEEKDAY_JA = "月火水木金土日"


def format_ja(instant: datetime) -> str:
    """2026年11月24日(火) 17:00 — how a Japanese desk writes a time."""
    t = to_tokyo(instant)
    return f"{t.year}年{t.month}月{t.day}日({WEEKDAY_JA[t.weekday()]}) {t:%H:%M}"


def tags(config: Config, profile_name: str, incidents: Sequence[Incident | CreatedIncident]) -> str:
    return incident_tags(config.profile(profile_name).tag_prefix, [i.id for i in incidents])


def incident_tags(prefix: str, numbers: Sequence[int]) -> str:
    return "".join(incident_tag(number, prefix) for number in numbers)


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
    terms = config.profile(profile_name)
    # R22: the after-accept step pages on-call for these in the same transaction.
    paged = [
        i.id
        for i in incidents
        if IncidentFlag.AFTER_HOURS in i.flags and terms.oncall_addresses
    ]
    return queue_mail(
        session,
        config,
        profile_name,
        kind=OutboxKind.ACK,
        to=to,
        now=now,
        template="ack",
        context={
            "tags": tags(config, profile_name, incidents),
            "incidents": [{"number": i.id, "first_line": i.first_line} for i in incidents],
            "received_at": format_ja(received_at),
            "open_now": calendar.is_open(received_at),
            "handling_starts": format_ja(starts),
            "company": fields.get("company"),
            "name": fields.get("name"),
            "non_japanese": non_japanese,
            "support_lapsed": IncidentFlag.SUPPORT_LAPSED in flags,
            "domain_mismatch": IncidentFlag.DOMAIN_MISMATCH in flags,
            "oncall_paged": incident_tags(terms.tag_prefix, paged),
            "oncall_all": len(paged) == len(incidents),
            "after_hours_rate": f"{terms.after_hours_rate_jpy:,}",
            "billing_unit_minutes": terms.billing_unit_minutes,
        },
        thread=thread,
        incident_id=incidents[0].id if incidents else None,
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
    quote_fields: bool = False,
) -> str | None:
    """R2: one mail asking for exactly the missing or unknown fields, by their fixed labels.

    ``quote_fields``: the recipient is a registered contact of the customer the inquiry names,
    so the typed 社名 and 氏名 may be written back to them. Otherwise nothing the sender typed is
    quoted (anyone can put any address in From or Reply-To: no backscatter carrying their text)."""
    items = [{"label": FIELD_LABELS[name], "reason": ""} for name in missing]
    items += [
        {"label": FIELD_LABELS[name], "reason": "ご登録が確認できませんでした"} for name in unknown
    ]
    return queue_mail(
        session,
        config,
        profile_name,
        kind=OutboxKind.ASK_FIELDS,
        to=to,
        now=now,
        template="ask_fields",
        context={
            "items": items,
            "received_at": format_ja(received_at),
            "expires_at": format_ja(expires_at),
            "company": fields.get("company") if quote_fields else None,
            "name": fields.get("name") if quote_fields else None,
            "non_japanese": non_japanese,
        },
        thread=thread,
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
    return queue_mail(
        session,
        config,
        profile_name,
        kind=OutboxKind.HELD_EXPIRED,
        to=to,
        now=now,
        template="held_expired",
        context={
            "received_at": format_ja(received_at),
            "days": config.intake.held_expiry_days,
        },
        thread=thread,
    )
