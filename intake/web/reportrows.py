"""The reports page's rows as staff read them: Japanese categories, causes and profiles, dates
written out (``11月24日（火）10:30``), where the command line's CSV keeps the stored names."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from intake.labels import CATEGORY_LABELS, CAUSE_LABELS, ja_date, ja_time, label
from intake.reports import BillingLine, Cell
from intake.web.staff_common import profile_labels

# consumption_rows: number, company, profile, period start, period end, quota, …
PROFILE, PERIOD_START, PERIOD_END = 2, 3, 4


def staff_billing_line(line: BillingLine) -> BillingLine:
    """One billable incident with its time, category and cause in Japanese."""
    return replace(
        line,
        created_at=ja_time(datetime.fromisoformat(line.created_at)),
        category=label(CATEGORY_LABELS, line.category),
        cause=label(CAUSE_LABELS, line.cause, empty=""),
    )


def staff_consumption_row(row: list[Cell]) -> list[Cell]:
    """One consumption row with the profile's name and the period's dates in Japanese."""
    shown = list(row)
    shown[PROFILE] = profile_labels().get(str(row[PROFILE]), row[PROFILE])
    for index in (PERIOD_START, PERIOD_END):
        if isinstance(row[index], str) and row[index]:
            shown[index] = ja_date(date.fromisoformat(str(row[index])))
    return shown


def staff_sla_row(row: list[Cell]) -> list[Cell]:
    """One response-target row (``intake.slareport``) with the profile's name in Japanese."""
    return [profile_labels().get(str(row[0]), row[0]), *row[1:]]


def month_ja(month: str) -> str:
    """``2026-11`` → ``2026年11月``."""
    year, _, number = month.partition("-")
    return f"{year}年{int(number)}月" if number.isdigit() else month
