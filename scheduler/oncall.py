"""After-hours emergencies (R22): an urgent inquiry outside business hours is paged at once.

``accept`` flags an incident ``after_hours`` when its item is urgent (緊急 in subject, body or
form, not negated) and was received outside the profile's business hours; this after-accept step
queues one mail of kind ``oncall`` to each of the profile's ``oncall_addresses``, in the accept's
transaction, due at once. It is internal staff mail (``responder.queue.STAFF``): never counted
against a customer's R27 limit and carrying no reply token — on-call staff answer through the
incident's staff notification or the command line. The page says that after-hours work may be
billable (R23), so time and cause get recorded while the work is fresh.
"""

from __future__ import annotations

import logging

from intake.audit import audit
from intake.fieldnames import stated_fields
from intake.incidents import Accepted, CreatedIncident
from intake.incidenttag import incident_tag
from intake.labels import CATEGORY_LABELS, CHANNEL_LABELS, FLAG_LABELS, label, labels_of
from intake.states import IncidentFlag, OutboxKind
from responder.acks import format_ja
from responder.queue import STAFF, queue_mail

log = logging.getLogger("uketsuke.oncall")

# The audit action of an after-hours emergency no on-call address was configured for (R22).
UNCONFIGURED = "oncall_unconfigured"


def page_oncall(accepted: Accepted) -> None:
    """R22: page the on-call addresses for each urgent incident received after hours.

    A profile without on-call addresses pages nobody, but never silently: the incident gets an
    audit entry and a WARNING (incident number and profile only, R26); the staff notification
    (R20) still goes out."""
    for created in accepted.incidents:
        if IncidentFlag.AFTER_HOURS not in created.flags:
            continue
        addresses = _oncall_addresses(accepted.config.profile(created.profile).oncall_addresses)
        if not addresses:
            audit(
                accepted.session,
                UNCONFIGURED,
                incident=created.id,
                at=accepted.now,
                detail={"profile": created.profile},
            )
            log.warning(
                "incident #%s is urgent after hours but profile %s has no oncall_addresses",
                created.id,
                created.profile,
            )
            continue
        context = _context(accepted, created)
        for address in addresses:
            queue_mail(
                accepted.session,
                accepted.config,
                created.profile,
                kind=OutboxKind.ONCALL,
                to=[address],
                now=accepted.now,
                template="oncall",
                context=context,
                voice=STAFF,
                incident_id=created.id,
            )


def _oncall_addresses(configured: list[str]) -> list[str]:
    """Each address once, whatever its case (one page per person, not per spelling)."""
    unique: dict[str, str] = {}
    for address in configured:
        unique.setdefault(address.lower(), address)
    return list(unique.values())


def _context(accepted: Accepted, created: CreatedIncident) -> dict[str, object]:
    """What the on-call person needs to act without opening anything else (R22, R23)."""
    terms = accepted.config.profile(created.profile)
    customer = accepted.customer
    return {
        "tag": incident_tag(created.id, terms.tag_prefix),
        "number": created.id,
        "first_line": created.first_line,
        "received_at": format_ja(accepted.intake.received_at),
        "channel": label(CHANNEL_LABELS, created.channel),
        "category": label(CATEGORY_LABELS, created.category),
        "customer_number": customer.number if customer else None,
        "customer_company": customer.company if customer else "",
        "fields": stated_fields(created.fields),
        "reply_address": created.reply_address,
        "flags": labels_of(FLAG_LABELS, list(created.flags)),
        "rate": f"{terms.after_hours_rate_jpy:,}",
        "unit_minutes": terms.billing_unit_minutes,
        "text": created.text or created.subject,  # as just written: no read back
    }
