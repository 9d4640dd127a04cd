"""Annual support periods and support status (R24, R25, DN §3).

Dates only, no instants: the terms count support periods in whole days (Tokyo dates).

Period arithmetic follows the Japanese Civil Code, which governs the terms (民法 第140条, 第143条):
a one-year period starting at the beginning of a day counts that day and ends at the end of the
day before the corresponding day (応当日) of the next year; when that corresponding day does not
exist (a period starting on 2/29), it ends on the last day of that month (2/28).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

__all__ = [
    "PeriodKind",
    "SupportPeriod",
    "SupportStatus",
    "added_license_period",
    "first_of_next_month_or_today",
    "lapse_year_end",
    "one_year_end",
    "purchase_period",
    "support_status",
]

ONE_DAY = timedelta(days=1)


class PeriodKind(StrEnum):
    """How a support period was bought (R24 (1), (2), (4))."""

    RE_CONTINUATION = "re-continuation"  # 再継続年間サポート
    RENEWAL = "renewal"  # 次年度以降の年間サポート
    ADDED_LICENSE = "added-license"  # 追加ライセンス


class SupportStatus(StrEnum):
    """A customer's support status on a date (R25)."""

    ACTIVE = "active"
    LAPSED = "lapsed"
    NONE = "none"


@dataclass(frozen=True)
class SupportPeriod:
    """A support period (R24).

    ``coverage_from`` is when support is actually given (a re-continuation is supported from the
    purchase date, R24 (1)); ``start``..``end`` is the base period that renewals count from.
    All bounds are inclusive.
    """

    kind: PeriodKind
    coverage_from: date
    start: date
    end: date

    def __post_init__(self) -> None:
        """Support can begin early (R24 (1)) but never after the base period or past its end."""
        if not self.coverage_from <= self.start <= self.end:
            raise ValueError(
                f"support period needs coverage_from <= start <= end, got "
                f"{self.coverage_from}, {self.start}, {self.end} (R24)"
            )

    def covers(self, d: date) -> bool:
        """Whether support is given on ``d``: ``coverage_from <= d <= end`` (R24, R25)."""
        return self.coverage_from <= d <= self.end


def first_of_next_month_or_today(d: date) -> date:
    """The 1st of the month after ``d``, or ``d`` itself when it is a 1st (R24 (1), (2)).

    DN 3(1)/(2): "翌月1日（当社受付日が月初日の場合には当月１日）".
    """
    if d.day == 1:
        return d
    if d.month == 12:
        return date(d.year + 1, 1, 1)
    return date(d.year, d.month + 1, 1)


def one_year_end(start: date) -> date:
    """The last day of a one-year period beginning on ``start`` (R24, 民法 140条・143条).

    The day before the same date next year; a period starting on 2/29 ends on 2/28 of the next
    year (no corresponding day, 143条2項ただし書).  E.g. 2027-03-01 → 2028-02-29,
    2024-03-01 → 2025-02-28, 2028-02-29 → 2029-02-28.
    """
    if (start.month, start.day) == (2, 29):
        return date(start.year + 1, 2, 28)
    return date(start.year + 1, start.month, start.day) - ONE_DAY


def lapse_year_end(previous_end: date) -> date:
    """The last day on which less than a full year has elapsed since ``previous_end`` (R24 (3)).

    The lapse begins the day after the period ends (民法 140条: the end day is not counted) and a
    year of it is complete at the end of :func:`one_year_end` of that day (143条).  For an end on
    2025-03-31 that is 2026-03-31 (the anniversary); an end on 2028-02-29 gives 2029-02-28; an end
    on 2027-02-28 gives 2028-02-29 (the lapse year 2027-03-01..2028-02-29 holds a leap day).
    """
    return one_year_end(previous_end + ONE_DAY)


def _re_continuation(accepted: date) -> SupportPeriod:
    """R24 (1): supported from the purchase date; base year from the 1st of the next month."""
    start = first_of_next_month_or_today(accepted)
    return SupportPeriod(PeriodKind.RE_CONTINUATION, accepted, start, one_year_end(start))


def purchase_period(accepted: date, previous_end: date | None = None) -> SupportPeriod:
    """The support period bought by an order accepted on ``accepted`` (R24 (1)–(3), DN §3).

    * No previous period: re-continuation (1).
    * ``accepted <= previous_end`` (within the current period, its last day included): renewal
      from the day after it ends (2).
    * Accepted after it ended but before a full year has elapsed: renewal from the 1st of the
      next month (that day when accepted on a 1st) (2); no retroactive coverage.
    * A full year or more elapsed (``accepted > lapse_year_end(previous_end)``): re-continuation
      (3).  "1年以上経過" is counted as the Civil Code counts (see :func:`lapse_year_end`):
      accepted exactly on the anniversary is still a renewal, which is also the
      customer-favourable reading.
    """
    if previous_end is None or accepted > lapse_year_end(previous_end):
        return _re_continuation(accepted)
    if accepted <= previous_end:
        start = previous_end + ONE_DAY
    else:
        start = first_of_next_month_or_today(accepted)
    return SupportPeriod(PeriodKind.RENEWAL, start, start, one_year_end(start))


def added_license_period(added: date, current_end: date) -> SupportPeriod:
    """Support for licenses added mid-period: from ``added`` to the current end (R24 (4)).

    A changed fee applies from the next year, which is the caller's (billing) concern.  Adding
    after the current period ended raises :class:`ValueError`: there is no period to join.
    """
    if added > current_end:
        raise ValueError(
            f"no current support period on {added}: the last period ended {current_end} (R24)"
        )
    return SupportPeriod(PeriodKind.ADDED_LICENSE, added, added, current_end)


def support_status(periods: Iterable[SupportPeriod], on: date) -> SupportStatus:
    """R25: ACTIVE if a period covers ``on``; LAPSED if there are periods but none covers it;
    NONE when there are no periods at all.

    A customer whose only periods lie in the future of ``on`` is LAPSED too: not supported then.
    """
    seen = False
    for period in periods:
        if period.covers(on):
            return SupportStatus.ACTIVE
        seen = True
    return SupportStatus.LAPSED if seen else SupportStatus.NONE
