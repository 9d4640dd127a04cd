"""受理: the one accept every door ends in (docs/architecture.md, "The flow of one message").

``accept(session, config, intake, now)`` identifies the customer (R2), holds an inquiry that
lacks fields and asks once for exactly those (R2, R8), or creates one incident per item (R3),
consuming the customer's entitlement (R4) with the support-status flags (R25), and queues the
acknowledgment by email (R10) — in the caller's transaction, whichever door the inquiry came
through: SMTP, IMAP, fax, phone, ``reprocess``, a staff member's transcription.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from intake.accepted import AFTER_ACCEPT_STEPS
from intake.config import Config
from intake.fastsql import Prebuilt
from intake.heldinquiries import cancel_expiry
from intake.identify import Identification, contact_addresses, identify, standing
from intake.incidents import Accepted, CreatedIncident, create_incidents
from intake.models import IncidentMessage, Inquiry, RawMessage, RawState, TimedAction
from intake.outcomes import Held
from intake.states import IncidentFlag
from intake.submission import Intake
from intake.targets import first_due
from intake.text import strip_controls, strip_controls_opt
from responder.acks import queue_ack, queue_ask_fields
from responder.outbox import count_ahead
from responder.queue import Thread

_INSERT_OUT_MESSAGE = Prebuilt(insert(IncidentMessage.__table__))  # the acknowledgment's record

ACK_BODY = "(受付のお知らせ)"


def accept(
    session: Session,
    config: Config,
    intake: Intake,
    now: datetime,
    *,
    registry: bool | None = None,
) -> list[CreatedIncident]:
    """Accept an inquiry into incidents, or raise :class:`Held` with what is missing.

    ``registry`` (whether a customer registry is loaded) may be passed by a caller that
    accepts many inquiries in one transaction; it is looked up otherwise."""
    intake = _clean(intake)
    terms = config.profile(intake.profile)
    found = _identify(session, intake, terms.require_active_support, now, registry)
    if not found.accepted:
        _hold(session, config, intake, found, now)
    flags = list(found.flags)
    if intake.language != "ja":
        flags.append(IncidentFlag.NON_JAPANESE)  # R6
    recipients = intake.recipients()
    if not recipients and found.customer is not None:
        recipients = contact_addresses(found.customer)[:1]  # R10: fax, phone
    # R27's count for the acknowledgment travels with the incidents' INSERTs (PostgreSQL).
    with count_ahead(session, recipients[0], now) if recipients else nullcontext():
        created = create_incidents(
            session,
            intake,
            customer=found.customer,
            flags=flags,
            reply_address=recipients[0] if recipients else None,
            now=now,
            after_hours=not terms.calendar().is_open(intake.received_at),
            first_due=first_due(config, intake.profile, intake.received_at),
        )
        if intake.held is not None:
            _resolve(session, intake.held, found, now)
        _acknowledge(session, config, intake, created, recipients, now)
    done = Accepted(session, config, intake, created, found.customer, now)
    for step in AFTER_ACCEPT_STEPS:
        step(done)
    return created


def _clean(intake: Intake) -> Intake:
    """No control characters reach a text column or a mail (PostgreSQL refuses NUL)."""
    return replace(
        intake,
        subject=strip_controls(intake.subject),
        fields={k: strip_controls_opt(v) for k, v in intake.fields.items()},
        items=[replace(i, text=strip_controls(i.text)) for i in intake.items],
    )


def _identify(
    session: Session,
    intake: Intake,
    require_active_support: bool,
    now: datetime,
    registry: bool | None,
) -> Identification:
    found = identify(
        session, intake.fields, intake.profile, require_active_support, now, registry=registry
    )
    if not found.accepted and intake.linked_incident_id is not None:
        # R19: a follow-up to a closed incident; its customer was identified when it was first
        # accepted, so nothing is asked again.
        customer = intake.customer or found.customer
        return standing(customer, intake.fields, intake.profile, require_active_support, now)
    return found


def _resolve(session: Session, held: Inquiry, found: Identification, now: datetime) -> None:
    """R2: the held inquiry is accepted; its stored message is done with too."""
    held.state = "accepted"
    held.resolved_at = now
    cancel_expiry(session, held.id, now)
    held.customer_id = found.customer.id if found.customer else None
    if held.raw_message_id is not None:
        session.execute(
            update(RawMessage)
            .where(RawMessage.id == held.raw_message_id, RawMessage.state == RawState.HELD)
            .values(state=RawState.PROCESSED, last_error=None, processed_at=now)
        )


def _thread(intake: Intake) -> Thread:
    return Thread(intake.message_id, [*intake.references])


def _acknowledge(
    session: Session,
    config: Config,
    intake: Intake,
    created: list[CreatedIncident],
    recipients: list[str],
    now: datetime,
) -> None:
    """R3, R8, R10: one mail lists every incident created, with its number and first line."""
    if not recipients:
        return  # flagged no_reply_address on each incident: staff find an address (R10)
    sent = queue_ack(
        session,
        config,
        intake.profile,
        to=recipients,
        incidents=created,
        received_at=intake.received_at,
        now=now,
        thread=_thread(intake),
        fields=intake.fields,
        non_japanese=intake.language != "ja",
    )
    if sent is None:  # R27: held back by the hourly limit (recorded where it is decided)
        return
    _INSERT_OUT_MESSAGE.many(
        session.connection(),
        [
            {
                "incident_id": incident.id,
                "direction": "out",
                "message_id": sent,
                "body": ACK_BODY,
                "created_at": now,
            }
            for incident in created
        ],
    )


def _hold(
    session: Session, config: Config, intake: Intake, found: Identification, now: datetime
) -> None:
    """R2: hold, ask once for exactly what is missing or unknown, expire later. Consumes
    nothing (R4). An answer that still lacks something updates the same held inquiry and asks
    for what is still missing. Raises :class:`Held`.

    The request quotes the typed 社名 and 氏名 only when every recipient is a registered contact
    of the customer the inquiry names; to any other address it names the missing fields and
    quotes nothing the sender typed (R2, "what the ask-fields mail quotes")."""
    reason = intake.hold_reason if not found.unknown else "unknown_customer"
    asked = [*found.missing, *found.unknown]
    inquiry = intake.held
    recipients = intake.recipients()
    asks = bool(recipients) and intake.ask_for_fields
    if inquiry is None:
        # Waiting for the customer, it expires (R2); waiting for staff (a fax to key in, no
        # address to ask), it stays on their list until they act.
        expires = now + timedelta(days=config.intake.held_expiry_days) if asks else None
        inquiry = Inquiry(
            raw_message_id=intake.raw_message_id,
            profile=intake.profile,
            channel=intake.channel,
            sender=recipients[0] if recipients else None,
            state="held",
            reason=reason,
            created_at=now,
            expires_at=expires,
        )
        session.add(inquiry)
        session.flush()
        if expires is not None:
            session.add(
                TimedAction(
                    kind="held_expiry", due_at=expires, inquiry_id=inquiry.id, created_at=now
                )
            )
    inquiry.fields = dict(intake.fields)
    inquiry.missing = asked
    if asks:
        contacts = {address.lower() for address in contact_addresses(found.customer)}
        inquiry.request_message_id = (
            queue_ask_fields(
                session,
                config,
                intake.profile,
                to=recipients,
                missing=found.missing,
                unknown=found.unknown,
                received_at=intake.received_at,
                expires_at=inquiry.expires_at or now,
                now=now,
                thread=_thread(intake),
                fields=intake.fields,
                non_japanese=intake.language != "ja",
                quote_fields=all(address.lower() in contacts for address in recipients),
            )
            or inquiry.request_message_id
        )
    raise Held(f"{reason}: {', '.join(asked)}")
