"""Identify the customer behind an inquiry (R2 acceptance, R25 support status).

An inquiry is accepted when all four fields are present and, when a registry is loaded, the
customer number exists in it. A domain outside the customer's registered domains is accepted but
flagged for staff; a lapsed support period is accepted but flagged (R25).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, selectinload

from intake.customers import contracts_of
from intake.fieldnames import FIELD_NAMES
from intake.models import Customer
from intake.states import IncidentFlag
from scheduler.calendar import to_tokyo
from scheduler.periods import SupportStatus, support_status


@dataclass
class Identification:
    accepted: bool
    customer: Customer | None = None
    missing: list[str] = field(default_factory=list)  # field names, in FIELD_NAMES order
    unknown: list[str] = field(default_factory=list)  # present but not in the registry
    flags: list[str] = field(default_factory=list)


def registry_loaded(session: Session) -> bool:
    return bool(session.scalar(select(exists().where(Customer.id.is_not(None)))))


def find_customer(session: Session, number: str | None) -> Customer | None:
    if not number:
        return None
    return session.scalars(
        select(Customer)
        .where(Customer.number == number)
        .options(
            selectinload(Customer.domains),
            selectinload(Customer.contacts),
            selectinload(Customer.contracts),
        )
    ).one_or_none()


def identify(
    session: Session,
    fields: dict[str, str | None],
    profile: str,
    require_active_support: bool,
    now: datetime,
    registry: bool | None = None,
) -> Identification:
    """R2: accepted, or what is missing or unknown. R25: support status flags."""
    missing = [name for name in FIELD_NAMES if not fields.get(name)]
    loaded = registry if registry is not None else registry_loaded(session)
    customer = find_customer(session, fields.get("customer_number")) if loaded else None
    unknown: list[str] = []
    if fields.get("customer_number") and customer is None and loaded:
        unknown.append("customer_number")
    if missing or unknown:
        return Identification(False, customer, missing, unknown)
    return standing(customer, fields, profile, require_active_support, now)


def standing(
    customer: Customer | None,
    fields: dict[str, str | None],
    profile: str,
    require_active_support: bool,
    now: datetime,
) -> Identification:
    """An accepted inquiry's flags: a domain outside the registered ones (R2), a lapsed
    support period (R25). Also for a customer identified before (a reopened incident, R19)."""
    flags: list[str] = []
    if customer is not None:
        domain = (fields.get("domain") or "").lower()
        registered = {d.domain for d in customer.domains}
        if (
            domain
            and registered
            and not any(domain == d or domain.endswith("." + d) for d in registered)
        ):
            flags.append(IncidentFlag.DOMAIN_MISMATCH)
        status = support_status(list(contracts_of(customer, profile)), to_tokyo(now).date())
        if require_active_support and status == SupportStatus.LAPSED:
            flags.append(IncidentFlag.SUPPORT_LAPSED)
        elif require_active_support and status == SupportStatus.NONE:
            # No period on record: staff check the registry; the customer is not told that a
            # support they may well have has lapsed (R25, read in the customer's favour).
            flags.append(IncidentFlag.NO_SUPPORT_PERIOD)
    return Identification(True, customer, [], [], flags)


def contact_addresses(customer: Customer | None) -> list[str]:
    """Registered contact addresses: where FAX and phone inquiries are answered (R10)."""
    return [c.email for c in customer.contacts] if customer is not None else []
