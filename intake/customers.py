"""The customer registry: CSV import and look-ups (R2 acceptance, R10/R15 contacts, R24/R25).

The CSV is read whole and checked before anything is written, then written in one transaction:
a bad row names its line and column and nothing is half-imported.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from tqdm import tqdm

from intake.mail.fields import normalize_customer_number, normalize_domain
from intake.models import Customer, CustomerContact, CustomerDomain, SupportContract
from scheduler.periods import PeriodKind, SupportPeriod, added_license_period, purchase_period

COLUMNS = (
    "customer_number",  # required; normalised as intake normalises it (R1)
    "company",  # required
    "domains",  # registered domains, separated by spaces, commas or semicolons
    "contact_emails",  # registered contact addresses, same separators (R10, R15)
    "profile",  # the profile (terms) the contract belongs to; default: the default profile
    "product",  # free text
    "order_accepted",  # YYYY-MM-DD: the order of the current support purchase (R24)
    "previous_period_end",  # YYYY-MM-DD: end of the period before it, if any (renewal)
    "added_license",  # YYYY-MM-DD: a license added mid-period (R24(4)), needs a period end
    "incident_quota",  # integer, optional (R4)
)
REQUIRED = ("customer_number", "company")
_SPLIT = re.compile(r"[\s,;、，；]+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class CustomerImportError(Exception):
    """A bad CSV: the message names the line and column."""


@dataclass
class CustomerRow:
    line: int
    number: str
    company: str
    domains: list[str] = field(default_factory=list)
    contacts: list[str] = field(default_factory=list)
    profile: str = ""
    product: str = ""
    periods: list[tuple[SupportPeriod, date | None]] = field(default_factory=list)
    quota: int | None = None


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else CP932 as Excel writes Japanese CSV."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("cp932")
        except UnicodeDecodeError as exc:
            raise CustomerImportError(
                f"the file is neither UTF-8 nor Shift_JIS (byte {exc.start})"
            ) from None


def _date(value: str, line: int, column: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CustomerImportError(
            f"line {line}, column {column}: {value!r} is not a date (YYYY-MM-DD)"
        ) from None


def parse_rows(data: bytes, default_profile: str, profiles: Iterable[str]) -> list[CustomerRow]:
    """Check every row; raise CustomerImportError naming the first bad line and column."""
    known_profiles = set(profiles)
    reader = csv.DictReader(io.StringIO(_decode(data), newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    for column in REQUIRED:
        if column not in header:
            raise CustomerImportError(f"line 1: the header has no column {column!r}")
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise CustomerImportError(
            f"line 1: unknown column {unknown[0]!r} (known: {', '.join(COLUMNS)})"
        )
    rows: list[CustomerRow] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        values = {k: (v or "").strip() for k, v in record.items() if k is not None}
        if None in record:
            raise CustomerImportError(f"line {line}: more values than columns")
        if not any(values.values()):
            continue
        rows.append(_parse_row(values, line, default_profile, known_profiles, seen))
    return rows


def _parse_row(
    values: dict[str, str],
    line: int,
    default_profile: str,
    profiles: set[str],
    seen: dict[str, int],
) -> CustomerRow:
    number = normalize_customer_number(values.get("customer_number", ""))
    if not number:
        raise CustomerImportError(f"line {line}, column customer_number: empty")
    if number in seen:
        raise CustomerImportError(
            f"line {line}, column customer_number: {number} already on line {seen[number]}"
        )
    seen[number] = line
    company = values.get("company", "")
    if not company:
        raise CustomerImportError(f"line {line}, column company: empty")
    domains = _domains(values, line)
    contacts = _contacts(values, line)
    profile = values.get("profile") or default_profile
    if profile not in profiles:
        raise CustomerImportError(f"line {line}, column profile: unknown profile {profile!r}")
    row = CustomerRow(line, number, company, domains, contacts, profile, values.get("product", ""))
    row.periods.extend(_periods(values, line))
    quota = values.get("incident_quota", "")
    if quota:
        if not quota.isdigit():
            raise CustomerImportError(
                f"line {line}, column incident_quota: {quota!r} is not a number"
            )
        row.quota = int(quota)
    return row


def _domains(values: dict[str, str], line: int) -> list[str]:
    domains = []
    for raw in _SPLIT.split(values.get("domains", "")):
        if raw:
            domain = normalize_domain(raw)
            if not domain or "." not in domain:
                raise CustomerImportError(f"line {line}, column domains: {raw!r} is not a domain")
            domains.append(domain)
    return domains


def _contacts(values: dict[str, str], line: int) -> list[str]:
    contacts = []
    for raw in _SPLIT.split(values.get("contact_emails", "")):
        if raw:
            if not _EMAIL.match(raw):
                raise CustomerImportError(
                    f"line {line}, column contact_emails: {raw!r} is not an address"
                )
            contacts.append(raw.lower())
    return contacts


def _periods(values: dict[str, str], line: int) -> list[tuple[SupportPeriod, date | None]]:
    """The purchase period (and an added license's) with the dates they were ordered."""
    accepted = _date(values.get("order_accepted", ""), line, "order_accepted")
    previous_end = _date(values.get("previous_period_end", ""), line, "previous_period_end")
    added = _date(values.get("added_license", ""), line, "added_license")
    if previous_end and not accepted:
        raise CustomerImportError(
            f"line {line}, column order_accepted: needed with previous_period_end"
        )
    if not accepted:
        if added:
            raise CustomerImportError(f"line {line}, column added_license: needs order_accepted")
        return []
    period = purchase_period(accepted, previous_end)
    periods: list[tuple[SupportPeriod, date | None]] = [(period, accepted)]
    if added:
        try:
            periods.append((added_license_period(added, period.end), added))
        except ValueError as exc:
            raise CustomerImportError(f"line {line}, column added_license: {exc}") from None
    return periods


def import_rows(session: Session, rows: list[CustomerRow], progress: bool = True) -> int:
    """Insert or update customers; the caller commits (one transaction for the whole file)."""
    existing = {
        c.number: c
        for c in session.scalars(
            select(Customer).options(
                selectinload(Customer.domains),
                selectinload(Customer.contacts),
                selectinload(Customer.contracts),
            )
        )
    }
    for row in tqdm(rows, desc="customers", unit="row", disable=None if progress else True):
        customer = existing.get(row.number)
        if customer is None:
            customer = Customer(number=row.number, company=row.company)
            session.add(customer)
        customer.company = row.company
        kept_domains = {d.domain: d for d in customer.domains}
        customer.domains = [
            kept_domains.get(d) or CustomerDomain(domain=d) for d in dict.fromkeys(row.domains)
        ]
        kept_contacts = {c.email: c for c in customer.contacts}
        customer.contacts = [
            kept_contacts.get(e) or CustomerContact(email=e) for e in dict.fromkeys(row.contacts)
        ]
        known = {(c.profile, c.kind, c.period_start, c.coverage_from) for c in customer.contracts}
        for period, ordered in row.periods:
            key = (row.profile, str(period.kind), period.start, period.coverage_from)
            if key in known:
                continue
            customer.contracts.append(
                SupportContract(
                    profile=row.profile,
                    product=row.product,
                    kind=str(period.kind),
                    order_accepted=ordered,
                    coverage_from=period.coverage_from,
                    period_start=period.start,
                    period_end=period.end,
                    incident_quota=row.quota,
                )
            )
    return len(rows)


def import_file(session: Session, path: Path, default_profile: str, profiles: Iterable[str]) -> int:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CustomerImportError(f"{path}: {exc.strerror}") from None
    return import_rows(session, parse_rows(data, default_profile, profiles))


def contracts_of(customer: Customer, profile: str) -> Iterator[SupportPeriod]:
    """The customer's support periods for a profile, as the pure rules see them (R25)."""
    for contract in customer.contracts:
        if contract.profile == profile:
            yield SupportPeriod(
                PeriodKind(contract.kind),
                contract.coverage_from,
                contract.period_start,
                contract.period_end,
            )
