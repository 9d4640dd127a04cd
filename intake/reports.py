"""The monthly reports' queries: incidents consumed (R4) and billable after-hours work (R23).

``uketsuke report`` (``intake.cli.reportcmds``, which formats them as a text table or CSV) and
the dashboard's reports page (``intake.web.staff_pages``) both read the rows here.

``consumption_rows`` counts, per customer and support period, the incidents accepted in a month
and how much of the period's quota they used (R4, HD 仕様書 1.2: an incident is consumed when it is
accepted, so the month is that of ``Incident.created_at``). ``billing_lines`` lists, per customer,
the month's billable after-hours incidents with their time and amount (R23, HD 仕様書 5.2, 5.3;
which incidents are billable and how time is rounded is ``scheduler.billing``). The amounts are a
proposal for staff to confirm, never a bill sent by itself.

Readings:

* The month is a calendar month in Asia/Tokyo (R12): an incident accepted at 2026-11-30T15:30Z
  (00:30 on 1 December in Tokyo) belongs to December.
* ``consumed_in_period`` counts the period's incidents accepted up to the end of the month
  reported, so a past month's report stays the same; ``remaining`` is the quota minus that count
  and goes below zero past the quota (R4: a quota never refuses an incident, it flags it).
* Nothing is hidden: incidents without a registry customer are grouped under an empty customer
  number with the company they stated, and incidents of a customer without a support period
  under that customer with empty period columns.

Company names come from customers' own mail, so they are put on one printable line.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from intake.models import Customer, Incident, SupportContract
from intake.states import IncidentFlag
from scheduler.billing import amount_jpy, billed_minutes, hours_text, is_billable
from scheduler.calendar import TOKYO, format_instant

if TYPE_CHECKING:
    from intake.config import Config

MONTH = re.compile(r"(\d{4})-(\d{2})")
# An incident merged into another (R3, the dashboard's merge) was never one of its own.
NOT_MERGED = ~cast(Incident.flags, String).like(f'%"{IncidentFlag.MERGED}"%')

Cell = str | int | None


class NotAMonth(ValueError):
    """Text that is not a month (YYYY-MM); the message says so in one line."""


def month_range(text: str) -> tuple[datetime, datetime]:
    """The first instant of the month and of the next one, in Asia/Tokyo (R12)."""
    match = MONTH.fullmatch(text.strip())
    try:
        if match is None:
            raise ValueError(text)
        year, month = int(match[1]), int(match[2])
        return (
            datetime(year, month, 1, tzinfo=TOKYO),
            datetime(year + month // 12, month % 12 + 1, 1, tzinfo=TOKYO),
        )
    except ValueError:
        raise NotAMonth(f"{text!r} is not a month (YYYY-MM, e.g. 2026-12)") from None


def consumption_rows(session: Session, start: datetime, end: datetime) -> list[list[Cell]]:
    """R4: one row per customer, profile and support period with incidents in [start, end).
    An incident merged into another (R3, the dashboard's merge) was never one of its own."""
    month = session.execute(
        select(Incident.customer_id, Incident.contract_id, Incident.profile, Incident.fields).where(
            Incident.created_at >= start,
            Incident.created_at < end,
            NOT_MERGED,
        )
    ).all()
    counts: Counter[tuple[int | None, int | None, str, str]] = Counter(
        (customer, contract, profile, "" if customer is not None else stated_company(fields))
        for customer, contract, profile, fields in month
    )
    customers = _by_id(session, Customer, {key[0] for key in counts})
    contracts = _by_id(session, SupportContract, {key[1] for key in counts})
    in_period = {
        contract_id: count
        for contract_id, count in session.execute(
            select(Incident.contract_id, func.count())
            .where(Incident.contract_id.in_(list(contracts)), Incident.created_at < end)
            .group_by(Incident.contract_id)
        )
    }
    rows: list[list[Cell]] = []
    for (customer_id, contract_id, profile, stated), in_month in counts.items():
        customer = customers.get(customer_id)
        contract = contracts.get(contract_id)
        row: list[Cell] = [
            customer.number if customer else "",
            one_line(customer.company) if customer else stated,
            profile,
        ]
        if contract is None:
            row += [None, None, None, in_month, None, None]
        else:
            used = in_period.get(contract.id, 0)
            quota = contract.incident_quota
            row += [
                contract.period_start.isoformat(),
                contract.period_end.isoformat(),
                quota,
                in_month,
                used,
                None if quota is None else quota - used,
            ]
        rows.append(row)
    return sorted(rows, key=_customer_order)


@dataclass(frozen=True, slots=True)
class BillingLine:
    """One billable incident of a month (R23)."""

    customer_number: str
    company: str
    incident: int
    created_at: str
    category: str
    cause: str
    minutes_worked: int
    billed_minutes: int
    amount_jpy: int


def billing_lines(
    session: Session, config: Config, start: datetime, end: datetime
) -> list[BillingLine]:
    """R23: the billable incidents accepted in [start, end), by customer then time."""
    candidates = session.execute(
        select(
            Incident.id,
            Incident.customer_id,
            Incident.profile,
            Incident.fields,
            Incident.category,
            Incident.cause,
            Incident.flags,
            Incident.minutes_worked,
            Incident.created_at,
        )
        .where(Incident.created_at >= start, Incident.created_at < end)
        .order_by(Incident.created_at, Incident.id)
    ).all()
    billable = [c for c in candidates if is_billable(c.category, c.cause, list(c.flags or []))]
    customers = _by_id(session, Customer, {c.customer_id for c in billable})
    lines: list[BillingLine] = []
    for c in billable:
        customer = customers.get(c.customer_id)
        terms = config.profile(c.profile)
        unit = terms.billing_unit_minutes
        lines.append(
            BillingLine(
                customer_number=customer.number if customer else "",
                company=one_line(customer.company) if customer else stated_company(c.fields),
                incident=c.id,
                created_at=format_instant(c.created_at),
                category=c.category,
                cause=c.cause or "",
                minutes_worked=c.minutes_worked,
                billed_minutes=billed_minutes(c.minutes_worked, unit),
                amount_jpy=amount_jpy(c.minutes_worked, unit, terms.after_hours_rate_jpy),
            )
        )
    return sorted(lines, key=lambda line: _customer_order([line.customer_number, line.company]))


def billing_text_rows(lines: list[BillingLine]) -> list[list[Cell]]:
    """The text view: each customer's incidents, then a line with the customer's totals."""
    rows: list[list[Cell]] = []
    for customer, group in groupby(lines, key=lambda line: (line.customer_number, line.company)):
        own = list(group)
        rows += [billing_row(line, _yen(line.amount_jpy)) for line in own]
        rows.append(
            [
                *customer,
                "total",
                None,
                None,
                None,
                sum(line.minutes_worked for line in own),
                hours_text(sum(line.billed_minutes for line in own)),
                _yen(sum(line.amount_jpy for line in own)),
            ]
        )
    return rows


def billing_row(line: BillingLine, amount: Cell) -> list[Cell]:
    """One incident's row, with its amount as given (a number for CSV, ``1,234`` for text)."""
    return [
        line.customer_number,
        line.company,
        line.incident,
        line.created_at,
        line.category,
        line.cause,
        line.minutes_worked,
        hours_text(line.billed_minutes),
        amount,
    ]


def _yen(amount: int) -> str:
    return f"{amount:,}"


def stated_company(fields: dict[str, Any] | None) -> str:
    """The 社名 an unregistered customer stated (R1), on one line; empty when none was."""
    return one_line((fields or {}).get("company") or "")


def one_line(text: str) -> str:
    """Text from a customer's mail made safe for one table line: whitespace runs to one space,
    no control characters (a terminal escape in a company name stays inert)."""
    return "".join(ch for ch in " ".join(str(text).split()) if ch.isprintable())


def _by_id(session: Session, model: Any, ids: set[int | None]) -> dict[int, Any]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(wanted)))}


def _customer_order(row: Sequence[Cell]) -> tuple[bool, str, str]:
    """Registered customers by number, then unregistered ones by stated company."""
    number, company = str(row[0]), str(row[1])
    return (number == "", number, company)
