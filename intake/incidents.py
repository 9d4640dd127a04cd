"""Incidents: creation from an accepted inquiry (R3, R4), follow-ups joining them (R19).

Each indivisible inquiry is one incident and consumes one incident of the customer's entitlement
at the moment of acceptance (R4); a contract's quota, when exceeded, flags the incident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from intake.fastsql import Prebuilt
from intake.models import (
    Customer,
    Incident,
    IncidentMessage,
    OutboxMail,
    SupportContract,
    TimedAction,
)
from intake.states import INTERNAL_KINDS, IncidentFlag, IncidentState
from intake.submission import Intake, Item
from intake.summary import first_line
from scheduler.calendar import to_tokyo

if TYPE_CHECKING:
    from intake.config import Config

# Prebuilt statements executed with parameters: compiled once, cached (intake hot path).
_INSERT_INCIDENT = Prebuilt(insert(Incident.__table__).returning(Incident.__table__.c.id))
_INSERT_MESSAGE = Prebuilt(insert(IncidentMessage.__table__))
_THREAD_IDS = bindparam("ids", expanding=True)


def _by_thread(internal: bool):  # noqa: ANN202 - a prebuilt statement
    sent = select(OutboxMail.incident_id).where(
        OutboxMail.message_id.in_(_THREAD_IDS), OutboxMail.incident_id.is_not(None)
    )
    if not internal:
        sent = sent.where(OutboxMail.kind.not_in(INTERNAL_KINDS))
    return (
        select(Incident)
        .where(
            or_(
                Incident.id.in_(
                    select(IncidentMessage.incident_id).where(
                        IncidentMessage.message_id.in_(_THREAD_IDS)
                    )
                ),
                Incident.id.in_(sent),
            )
        )
        .order_by(Incident.id)
    )


_BY_THREAD = _by_thread(internal=False)
_BY_THREAD_WITH_STAFF_MAIL = _by_thread(internal=True)
_TOUCH_INCIDENT = Prebuilt(
    update(Incident.__table__)
    .where(Incident.__table__.c.id == bindparam("target"))
    .values(updated_at=bindparam("now"), last_customer_message_at=bindparam("now"))
)
_CANCEL_AUTO_CLOSE = Prebuilt(
    update(TimedAction.__table__)
    .where(
        TimedAction.__table__.c.incident_id == bindparam("target"),
        TimedAction.__table__.c.kind == "auto_close",
        TimedAction.__table__.c.state == "pending",
    )
    .values(state="cancelled", done_at=bindparam("now"))
)


def _contract_for(customer: Customer | None, profile: str, now: datetime):  # noqa: ANN202
    if customer is None:
        return None
    today = to_tokyo(now).date()
    for contract in customer.contracts:
        if contract.profile == profile and contract.coverage_from <= today <= contract.period_end:
            return contract
    return None


def consumed(session: Session, customer_id: int, contract_id: int) -> int:
    """R4: incidents consumed by a customer in a support period."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Incident)
            .where(Incident.customer_id == customer_id, Incident.contract_id == contract_id)
        )
        or 0
    )


@dataclass(slots=True)
class CreatedIncident:
    """An incident row just inserted, as a plain snapshot (the hot path skips the ORM's
    instrumented objects); the attributes are the Incident columns'."""

    id: int
    profile: str
    customer_id: int | None
    inquiry_id: int | None
    contract_id: int | None
    channel: str
    category: str
    state: str
    subject: str
    first_line: str
    reply_address: str | None
    flags: list[str]
    fields: dict[str, str]
    urgent: bool
    linked_incident_id: int | None
    created_at: datetime
    updated_at: datetime
    last_customer_message_at: datetime
    minutes_worked: int
    first_response_due: datetime | None = None
    response_due: datetime | None = None
    version: int = 0  # the dashboard's optimistic lock (intake.collision)
    text: str = ""  # the item's text, its first thread message (R3), kept for the pages


@dataclass
class Accepted:
    """An inquiry just accepted into ``incidents`` (one per item, R3): what each after-accept
    step (``intake.accepted``) is given. It lives here, below the steps, so that they import it
    without importing the list that names them."""

    session: Session
    config: Config
    intake: Intake
    incidents: list[CreatedIncident]
    customer: Customer | None
    now: datetime


def create_incidents(
    session: Session,
    intake: Intake,
    *,
    customer: Customer | None,
    flags: list[str],
    reply_address: str | None,
    now: datetime,
    after_hours: bool = False,
    first_due: datetime | None = None,
) -> list[CreatedIncident]:
    """R3: one incident per item; R4: each consumes one of the customer's support period.
    ``after_hours``: received outside business hours (an urgent item is then paged, R22).
    ``first_due``: when the first answer is due (``intake.targets.first_due``)."""
    contract = _contract_for(customer, intake.profile, now)
    created: list[CreatedIncident] = []
    connection = session.connection()
    stated = {k: v for k, v in intake.fields.items() if v}
    rows = []
    for item in intake.items or [Item("", "other", False)]:
        own_flags = _item_flags(flags, item, reply_address, after_hours)
        values = _incident_row(
            intake, item, customer, contract, reply_address, own_flags, stated, now
        )
        values["first_response_due"] = values["response_due"] = first_due
        rows.append((item, own_flags, values))
    quota = contract.incident_quota if contract is not None else None
    # Core INSERT … RETURNING: the intake hot path skips the ORM unit of work; callers get a
    # detached snapshot of the row. Without a quota to count after each, every item's INSERT is
    # sent before the first number is read: one round trip on PostgreSQL (intake.writebehind).
    sent = [_INSERT_INCIDENT.send(connection, row[2]) for row in rows] if quota is None else []
    for position, (item, own_flags, values) in enumerate(rows):
        number = sent[position].scalar() if sent else _INSERT_INCIDENT.scalar(connection, values)
        if quota is not None and consumed(session, contract.customer_id, contract.id) > quota:
            values["flags"] = [*own_flags, IncidentFlag.QUOTA_EXCEEDED]  # R4
            connection.execute(
                update(Incident.__table__)
                .where(Incident.id == number)
                .values(flags=values["flags"])
            )
        _INSERT_MESSAGE.run(
            connection,
            {
                "incident_id": number,
                "direction": "in",
                "raw_message_id": intake.raw_message_id,
                "message_id": intake.message_id,
                "author": intake.sender,
                "body": item.text,
                "created_at": now,
            },
        )
        created.append(CreatedIncident(id=number, text=item.text, **values))
    return created


def _item_flags(
    flags: list[str], item: Item, reply_address: str | None, after_hours: bool
) -> list[str]:
    """The inquiry's flags and this item's own (R5 out of scope, R10 no reply address, R22/R23
    after hours: urgent and received outside business hours, so handled after hours)."""
    own_flags = list(flags)
    if after_hours and item.urgent:
        own_flags.append(IncidentFlag.AFTER_HOURS)
    if item.category == "out_of_scope":
        own_flags.append(IncidentFlag.OUT_OF_SCOPE)  # R5: flagged, not rejected
    if reply_address is None:
        own_flags.append(IncidentFlag.NO_REPLY_ADDRESS)  # R10: never dropped, staff find an address
    return own_flags


def _incident_row(
    intake: Intake,
    item: Item,
    customer: Customer | None,
    contract: SupportContract | None,
    reply_address: str | None,
    flags: list[str],
    stated: dict[str, str],
    now: datetime,
) -> dict:
    """The Incident columns of one item's new row."""
    return {
        "profile": intake.profile,
        "customer_id": customer.id if customer else None,
        "inquiry_id": intake.held.id if intake.held else None,
        "contract_id": contract.id if contract else None,
        "channel": intake.channel,
        "category": item.category,
        "state": IncidentState.OPEN,
        "subject": intake.subject,
        "first_line": first_line(item.text, intake.subject, item.matter),
        "reply_address": reply_address,
        "flags": flags,
        "fields": stated,
        "urgent": item.urgent,
        "linked_incident_id": intake.linked_incident_id,
        "created_at": now,
        "updated_at": now,
        "last_customer_message_at": now,
        "minutes_worked": 0,
        "version": 0,
    }


def find_by_thread(session: Session, ids: list[str], internal: bool = False) -> list[Incident]:
    """R19: incidents any of whose messages (in or out) carries one of these Message-IDs; the
    staff's own mail (notifications, alerts, pages) only when ``internal`` (a staff answer)."""
    if not ids:
        return []
    statement = _BY_THREAD_WITH_STAFF_MAIL if internal else _BY_THREAD
    return list(session.scalars(statement, {"ids": ids}))


def participants(session: Session, incident: Incident) -> set[str]:
    """Who took part in an incident: its reply address, authors, the customer's contacts."""
    found = {
        a.lower()
        for a in session.scalars(
            select(IncidentMessage.author).where(
                IncidentMessage.incident_id == incident.id, IncidentMessage.author.is_not(None)
            )
        )
        if a
    }
    if incident.reply_address:
        found.add(incident.reply_address.lower())
    if incident.customer_id is not None:
        customer = session.get(Customer, incident.customer_id)
        if customer is not None:
            found.update(c.email.lower() for c in customer.contacts)
    return found


def join(
    session: Session,
    incident: Incident,
    *,
    raw_message_id: int,
    message_id: str | None,
    author: str | None,
    body: str,
    now: datetime,
) -> None:
    """R19: a follow-up joins its incident; any customer message restarts the R18 clock.

    Core statements, prebuilt (the intake hot path); the incident object is brought up to date
    without being marked dirty, so no second UPDATE is flushed for it."""
    connection = session.connection()
    _INSERT_MESSAGE.run(
        connection,
        {
            "incident_id": incident.id,
            "direction": "in",
            "raw_message_id": raw_message_id,
            "message_id": message_id,
            "author": author,
            "body": body,
            "created_at": now,
        },
    )
    if (
        incident.state == IncidentState.OPEN
        and incident.closed_at is None
        and not session.is_modified(incident)
    ):
        _TOUCH_INCIDENT.run(connection, {"target": incident.id, "now": now})
        set_committed_value(incident, "last_customer_message_at", now)
        set_committed_value(incident, "updated_at", now)
    else:  # answered, or reopened just now (R19): the ORM flushes its state with these
        if incident.state == IncidentState.ANSWERED:
            # R18: the customer wrote; the incident waits for staff
            incident.state = IncidentState.OPEN
        incident.last_customer_message_at = now
        incident.updated_at = now
    # R18: the auto-close clock restarts with any customer message
    _CANCEL_AUTO_CLOSE.run(connection, {"target": incident.id, "now": now})


def item_text(session: Session, incident_id: int) -> str | None:
    """The incident's own inquiry text (R3): its first incoming thread message."""
    return session.scalar(
        select(IncidentMessage.body)
        .where(IncidentMessage.incident_id == incident_id, IncidentMessage.direction == "in")
        .order_by(IncidentMessage.id)
        .limit(1)
    )
