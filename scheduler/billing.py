"""Billable after-hours work (R23, HD 仕様書 5.1–5.3): which incidents, how much time, what amount.

Pure functions, no I/O: ``uketsuke report billing`` feeds them the incidents of a month and the
profile's rate and unit. The report only *proposes* amounts for staff to confirm: the terms give
the rate as a guide (目安 ¥3,000/0.5H) and say after-hours work *may* be charged (場合があります).

Readings (R23; where the terms leave a question open, the customer's favour wins):

* Only after-hours work can be billed, and after-hours work is only given to urgent inquiries
  received outside business hours (HD 仕様書 5.1). Intake marks such an incident with the flag
  ``after_hours``; without it nothing is billable, whatever its category or cause.
* The cause staff set (``#cause``, R20) decides first: ``ours`` is never billable, even for a
  billable category; ``customer`` and ``third-party`` (outside the company's services) are
  billable whatever the category (HD 仕様書 5.3).
* Without such a cause, the category decides: general/contract questions (``general``), setup
  (``setup``) and operation or configuration advice (``operation``) are for the customer's
  convenience and billable. ``fault``, ``license``, ``out_of_scope`` and ``other`` are not: the
  "other low-urgency matters" of 5.3 cannot be told apart from urgent ones by category alone
  (every after-hours incident was urgent), and whether a fault or an out-of-scope matter had its
  cause outside our services is for staff to say by setting the cause.
* Time is rounded up to the unit per incident (0 minutes bill nothing; 1 minute bills one unit).
"""

from __future__ import annotations

from intake.states import IncidentFlag

__all__ = [
    "BILLABLE_CATEGORIES",
    "BILLABLE_CAUSES",
    "AFTER_HOURS_FLAG",
    "amount_jpy",
    "billed_minutes",
    "hours_text",
    "is_billable",
]

AFTER_HOURS_FLAG = IncidentFlag.AFTER_HOURS
"""Set at intake on an urgent incident received outside business hours (R22, HD 仕様書 5.1)."""

BILLABLE_CATEGORIES = frozenset({"general", "setup", "operation"})
"""HD 仕様書 5.3: general/contract questions, setup, operation and configuration advice."""

BILLABLE_CAUSES = frozenset({"customer", "third-party"})
"""HD 仕様書 5.3: the cause was on the customer's side, or outside the company's services."""

NEVER_BILLABLE_CAUSE = "ours"


def is_billable(category: str, cause: str | None, flags: list[str]) -> bool:
    """Whether an incident's after-hours work is billable (R23; readings in the module doc)."""
    if AFTER_HOURS_FLAG not in flags or cause == NEVER_BILLABLE_CAUSE:
        return False
    return cause in BILLABLE_CAUSES or category in BILLABLE_CATEGORIES


def billed_minutes(minutes: int, unit_minutes: int) -> int:
    """Minutes worked rounded up to a whole number of units (R23: up to 0.5 h by default)."""
    if minutes < 0 or unit_minutes < 1:
        raise ValueError(f"minutes {minutes} and unit {unit_minutes}: need minutes >= 0, unit >= 1")
    return -(-minutes // unit_minutes) * unit_minutes


def amount_jpy(minutes: int, unit_minutes: int, rate_per_unit: int) -> int:
    """The amount for ``minutes`` of work at ``rate_per_unit`` yen per started unit (R23)."""
    return billed_minutes(minutes, unit_minutes) // unit_minutes * rate_per_unit


def hours_text(minutes: int) -> str:
    """Minutes as hours for the report: one decimal when exact (90 → ``1.5``, 60 → ``1.0``),
    else two (a 20-minute unit: 20 → ``0.33``)."""
    tenths, rest = divmod(minutes, 6)
    if rest == 0:
        return f"{tenths // 10}.{tenths % 10}"
    return f"{minutes / 60:.2f}"
