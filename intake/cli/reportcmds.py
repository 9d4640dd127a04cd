"""Monthly reports for staff: incidents consumed (R4), billable after-hours work (R23) and
response targets.

``report consumption``, ``report billing`` and ``report sla`` print the rows of
:mod:`intake.reports` and :mod:`intake.slareport` (the queries, shared with the dashboard's
reports page, and the readings of the terms are there).

Output: a text table by default; ``--csv`` gives CSV as Excel opens it (UTF-8 with a BOM, CRLF).
A CSV text cell that Excel would take for a formula (=, +, -, @) is prefixed with ``'`` (OWASP
"CSV injection"). Read-only: the database is opened as every staff command opens it (never
created).
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from intake.cli.common import (
    CliError,
    add_config_option,
    config_from,
    echo,
    engine_from,
    terminal_text,
)

if TYPE_CHECKING:
    from intake.reports import Cell

# Handlers import what they use in their bodies (start-up rule in intake.cli.common).

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


def register(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="monthly reports: consumption (R4), after-hours work (R23), targets"
    )
    kinds = report.add_subparsers(dest="report", metavar="REPORT")
    kinds.required = True
    for name, text, handler in (
        ("consumption", "incidents consumed per customer and period (R4)", run_consumption),
        ("billing", "billable after-hours incidents and amounts per customer (R23)", run_billing),
        ("sla", "response targets met and missed per profile and customer", run_sla),
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
    """:func:`intake.reports.month_range`, with a bad month as a one-line error (R30)."""
    from intake.reports import NotAMonth
    from intake.reports import month_range as in_tokyo

    try:
        return in_tokyo(text)
    except NotAMonth as exc:
        raise CliError(str(exc)) from None


def run_consumption(args: argparse.Namespace) -> int:
    from intake import db
    from intake.reports import consumption_rows

    start, end = month_range(args.month)
    with db.session_factory(engine_from(config_from(args)))() as session:
        rows = consumption_rows(session, start, end)
    if args.csv:
        write_csv(CONSUMPTION_COLUMNS, rows)
    elif rows:
        write_text(CONSUMPTION_COLUMNS, rows, right={5, 6, 7, 8})
    else:
        echo(f"no incidents accepted in {args.month.strip()} (Asia/Tokyo)")
    return 0


def run_billing(args: argparse.Namespace) -> int:
    from intake import db
    from intake.reports import billing_lines, billing_row, billing_text_rows

    start, end = month_range(args.month)
    config = config_from(args)
    with db.session_factory(engine_from(config))() as session:
        lines = billing_lines(session, config, start, end)
    if args.csv:
        write_csv(BILLING_COLUMNS, [billing_row(line, line.amount_jpy) for line in lines])
    elif lines:
        write_text(BILLING_COLUMNS, billing_text_rows(lines), right={2, 6, 7, 8})
    else:
        echo(f"no billable after-hours work in {args.month.strip()} (Asia/Tokyo)")
    return 0


def run_sla(args: argparse.Namespace) -> int:
    from datetime import UTC

    from intake import db
    from intake.slareport import SLA_COLUMNS, sla_rows

    start, end = month_range(args.month)
    config = config_from(args)
    with db.session_factory(engine_from(config))() as session:
        rows = sla_rows(session, config, start, end, datetime.now(UTC))
    if args.csv:
        write_csv(SLA_COLUMNS, rows)
    elif rows:
        write_text(SLA_COLUMNS, rows, right={3, 4, 5, 6, 7})
    else:
        echo(f"no incidents accepted in {args.month.strip()} (Asia/Tokyo)")
    return 0


def write_csv(columns: Sequence[str], rows: list[list[Cell]]) -> None:
    """CSV that Excel opens as UTF-8 (``intake.excelcsv``)."""
    from intake.excelcsv import excel_csv

    sys.stdout.flush()
    sys.stdout.buffer.write(excel_csv(columns, rows))


def write_text(columns: Sequence[str], rows: list[list[Cell]], *, right: set[int]) -> None:
    """An aligned table, one line per row; Japanese (full-width) characters count two columns."""
    table = [
        list(columns),
        *[["" if v is None else terminal_text(str(v)) for v in row] for row in rows],
    ]
    widths = [max(_width(row[i]) for row in table) for i in range(len(columns))]
    for row in table:
        cells = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - _width(cell))
            cells.append(pad + cell if i in right else cell + pad)
        echo("  ".join(cells).rstrip())


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
