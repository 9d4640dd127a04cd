"""Monthly reports for staff: incidents consumed (R4) and billable after-hours work (R23).

``report consumption`` counts, per customer and support period, the incidents accepted in a month
and how much of the period's quota they used (R4, HD 仕様書 1.2: an incident is consumed when it is
accepted, so the month is that of ``Incident.created_at``). ``report billing`` lists, per customer,
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

Output: a text table by default; ``--csv`` gives CSV as Excel opens it (UTF-8 with a BOM, CRLF).
Company names come from customers' own mail, so they are put on one printable line, and a CSV
text cell that Excel would take for a formula (=, +, -, @) is prefixed with ``'`` (OWASP "CSV
injection"). Read-only: the database is opened as every staff command opens it (never created).
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import TYPE_CHECKING, Any

from intake.cli.common import CliError, add_config_option, config_from, engine_from, format_instant
from scheduler.calendar import TOKYO

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from intake.config import Config

# Handlers import what they use in their bodies (start-up rule in intake.cli.common).

MONTH = re.compile(r"(\d{4})-(\d{2})")
CONSUMPTION_COLUMNS = (
    "customer_number",
    "company",
    "profile",
    "period_start",
    "period_end",
    "quota",
    "consumed_in_month",
    "consumed_in_period",
    "remaining",
)
BILLING_COLUMNS = (
    "customer_number",
    "company",
    "incident",
    "created_at",
    "category",
    "cause",
    "minutes_worked",
    "billed_hours",
    "amount_jpy",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | None


def register(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="monthly reports: consumption (R4), billable after-hours work (R23)"
    )
    kinds = report.add_subparsers(dest="report", metavar="REPORT")
    kinds.required = True
    for name, text, handler in (
        ("consumption", "incidents consumed per customer and period (R4)", run_consumption),
        ("billing", "billable after-hours incidents and amounts per customer (R23)", run_billing),
    ):
        parser = kinds.add_parser(name, help=text)
        add_config_option(parser)
        parser.add_argument(
            "--month", required=True, metavar="YYYY-MM", help="the month, in Asia/Tokyo"
        )
        parser.add_argument(
            "--csv", action="store_true", help="CSV for Excel (UTF-8 with BOM, CRLF line ends)"
        )
        parser.set_defaults(handler=handler)


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
        raise CliError(f"{text!r} is not a month (YYYY-MM, e.g. 2026-12)") from None


def run_consumption(args: argparse.Namespace) -> int:
    from intake import db

    start, end = month_range(args.month)
    with db.session_factory(engine_from(config_from(args)))() as session:
        rows = consumption_rows(session, start, end)
    if args.csv:
        write_csv(CONSUMPTION_COLUMNS, rows)
    elif rows:
        write_text(CONSUMPTION_COLUMNS, rows, right={5, 6, 7, 8})
    else:
        print(f"no incidents accepted in {args.month.strip()} (Asia/Tokyo)")
    return 0


def consumption_rows(session: Session, start: datetime, end: datetime) -> list[list[Cell]]:
    """R4: one row per customer, profile and support period with incidents in [start, end).
    An incident merged into another (R3, the dashboard's merge) was never one of its own."""
    from sqlalchemy import String, cast, func, select

    from intake.models import Customer, Incident, SupportContract

    month = session.execute(
        select(Incident.customer_id, Incident.contract_id, Incident.profile, Incident.fields).where(
            Incident.created_at >= start,
            Incident.created_at < end,
            ~cast(Incident.flags, String).like('%"merged"%'),
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


def run_billing(args: argparse.Namespace) -> int:
    from intake import db

    start, end = month_range(args.month)
    config = config_from(args)
    with db.session_factory(engine_from(config))() as session:
        lines = billing_lines(session, config, start, end)
    if args.csv:
        write_csv(BILLING_COLUMNS, [_billing_row(line, line.amount_jpy) for line in lines])
    elif lines:
        write_text(BILLING_COLUMNS, billing_text_rows(lines), right={2, 6, 7, 8})
    else:
        print(f"no billable after-hours work in {args.month.strip()} (Asia/Tokyo)")
    return 0


def billing_lines(
    session: Session, config: Config, start: datetime, end: datetime
) -> list[BillingLine]:
    """R23: the billable incidents accepted in [start, end), by customer then time."""
    from sqlalchemy import select

    from intake.models import Customer, Incident
    from scheduler.billing import amount_jpy, billed_minutes, is_billable

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
    from scheduler.billing import hours_text

    rows: list[list[Cell]] = []
    for customer, group in groupby(lines, key=lambda line: (line.customer_number, line.company)):
        own = list(group)
        rows += [_billing_row(line, _yen(line.amount_jpy)) for line in own]
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


def _billing_row(line: BillingLine, amount: Cell) -> list[Cell]:
    from scheduler.billing import hours_text

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
    from sqlalchemy import select

    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(wanted)))}


def _customer_order(row: Sequence[Cell]) -> tuple[bool, str, str]:
    """Registered customers by number, then unregistered ones by stated company."""
    number, company = str(row[0]), str(row[1])
    return (number == "", number, company)


def write_csv(columns: Sequence[str], rows: list[list[Cell]]) -> None:
    """CSV that Excel opens as UTF-8: a BOM first, CRLF line ends, a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([_csv_cell(value) for value in row] for row in rows)
    sys.stdout.flush()
    sys.stdout.buffer.write(("\ufeff" + buffer.getvalue()).encode("utf-8"))


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def write_text(columns: Sequence[str], rows: list[list[Cell]], *, right: set[int]) -> None:
    """An aligned table, one line per row; Japanese (full-width) characters count two columns."""
    table = [list(columns), *[["" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(_width(row[i]) for row in table) for i in range(len(columns))]
    for row in table:
        cells = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - _width(cell))
            cells.append(pad + cell if i in right else cell + pad)
        print("  ".join(cells).rstrip())


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
