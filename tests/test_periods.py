"""Table-driven tests for annual support periods and support status (R24, R25)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.periods import (
    PeriodKind,
    SupportPeriod,
    SupportStatus,
    added_license_period,
    first_of_next_month_or_today,
    lapse_year_end,
    one_year_end,
    purchase_period,
    support_status,
)

RC = PeriodKind.RE_CONTINUATION
RN = PeriodKind.RENEWAL
AL = PeriodKind.ADDED_LICENSE


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2026, 4, 1), date(2026, 4, 1)),  # a 1st: that day
        (date(2026, 4, 2), date(2026, 5, 1)),
        (date(2026, 3, 31), date(2026, 4, 1)),
        (date(2026, 12, 1), date(2026, 12, 1)),
        (date(2026, 12, 2), date(2027, 1, 1)),  # December → January of the next year
        (date(2026, 12, 31), date(2027, 1, 1)),
        (date(2028, 2, 29), date(2028, 3, 1)),
    ],
)
def test_r24_first_of_next_month_or_today(d: date, expected: date) -> None:
    assert first_of_next_month_or_today(d) == expected


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2026, 4, 1), date(2027, 3, 31)),
        (date(2027, 1, 1), date(2027, 12, 31)),
        (date(2026, 4, 15), date(2027, 4, 14)),
        (date(2028, 2, 29), date(2029, 2, 28)),  # no 2/29 next year (民法143条2項ただし書)
        (date(2027, 3, 1), date(2028, 2, 29)),  # the period holds a leap day
        (date(2024, 3, 1), date(2025, 2, 28)),
        (date(2028, 3, 1), date(2029, 2, 28)),
        (date(2028, 2, 28), date(2029, 2, 27)),
        (date(2027, 2, 28), date(2028, 2, 27)),
    ],
)
def test_r24_one_year_end(start: date, end: date) -> None:
    assert one_year_end(start) == end


def d(iso: str) -> date:
    """Dates as ISO strings keep the tables on one line per case."""
    return date.fromisoformat(iso)


# R24 (1), (3): re-continuation, supported from the purchase date (coverage_from = accepted).
RE_CONTINUATIONS = [
    # (accepted, previous_end, start, end)  — why
    ("2026-04-01", None, "2026-04-01", "2027-03-31"),  # accepted on a 1st: that month
    ("2026-04-02", None, "2026-05-01", "2027-04-30"),  # the 2nd: next month
    ("2026-03-31", None, "2026-04-01", "2027-03-31"),  # the 31st
    ("2026-12-15", None, "2027-01-01", "2027-12-31"),  # December → January of next year
    ("2027-02-10", None, "2027-03-01", "2028-02-29"),  # period ends on a leap day
    ("2026-04-01", "2025-03-31", "2026-04-01", "2027-03-31"),  # lapse of a year and a day
    ("2026-04-02", "2025-03-31", "2026-05-01", "2027-04-30"),  # a year and two days
    ("2029-05-20", "2025-03-31", "2029-06-01", "2030-05-31"),  # years later
    ("2029-03-01", "2028-02-29", "2029-03-01", "2030-02-28"),  # end 2/29: year over on 3/1
    ("2028-03-01", "2027-02-28", "2028-03-01", "2029-02-28"),  # lapse year 2027-03-01..02-29
]

# R24 (2): renewal, supported from its start (coverage_from = start).
RENEWALS = [
    # (accepted, previous_end, start, end)  — why
    ("2027-02-10", "2027-03-31", "2027-04-01", "2028-03-31"),  # within the period
    ("2027-03-31", "2027-03-31", "2027-04-01", "2028-03-31"),  # on its last day
    ("2026-10-05", "2027-03-31", "2027-04-01", "2028-03-31"),  # mid-period
    ("2028-02-01", "2028-02-28", "2028-02-29", "2029-02-28"),  # renewal starting on 2/29
    ("2027-04-01", "2027-03-31", "2027-04-01", "2028-03-31"),  # day after the end, a 1st
    ("2027-04-02", "2027-03-31", "2027-05-01", "2028-04-30"),  # lapsed: 1st of next month
    ("2027-12-20", "2027-03-31", "2028-01-01", "2028-12-31"),  # lapsed, December → January
    ("2026-03-31", "2025-03-31", "2026-04-01", "2027-03-31"),  # lapse of exactly one year
    ("2029-02-28", "2028-02-29", "2029-03-01", "2030-02-28"),  # end 2/29: anniversary 2/28
    ("2028-02-29", "2027-02-28", "2028-03-01", "2029-02-28"),  # lapse year not over (143条)
]


@pytest.mark.parametrize(("accepted", "previous_end", "start", "end"), RE_CONTINUATIONS)
def test_r24_re_continuation(accepted: str, previous_end: str | None, start: str, end: str) -> None:
    prev = d(previous_end) if previous_end else None
    expected = SupportPeriod(RC, d(accepted), d(start), d(end))
    assert purchase_period(d(accepted), prev) == expected


@pytest.mark.parametrize(("accepted", "previous_end", "start", "end"), RENEWALS)
def test_r24_renewal(accepted: str, previous_end: str, start: str, end: str) -> None:
    expected = SupportPeriod(RN, d(start), d(start), d(end))
    assert purchase_period(d(accepted), d(previous_end)) == expected


@pytest.mark.parametrize(
    ("previous_end", "last_renewal_day"),
    [
        (date(2025, 3, 31), date(2026, 3, 31)),
        (date(2025, 12, 31), date(2026, 12, 31)),
        (date(2028, 2, 29), date(2029, 2, 28)),
        (date(2027, 2, 28), date(2028, 2, 29)),
        (date(2028, 2, 28), date(2029, 2, 28)),
    ],
)
def test_r24_lapse_year_end(previous_end: date, last_renewal_day: date) -> None:
    assert lapse_year_end(previous_end) == last_renewal_day
    assert purchase_period(last_renewal_day, previous_end).kind is RN
    assert purchase_period(last_renewal_day + timedelta(days=1), previous_end).kind is RC


@pytest.mark.parametrize(
    ("added", "current_end"),
    [
        ("2026-09-15", "2027-03-31"),  # mid-period
        ("2026-04-01", "2027-03-31"),  # first day of the period
        ("2027-03-31", "2027-03-31"),  # on the last day: one day of support
    ],
)
def test_r24_added_license_period(added: str, current_end: str) -> None:
    expected = SupportPeriod(AL, d(added), d(added), d(current_end))
    assert added_license_period(d(added), d(current_end)) == expected


def test_r24_added_license_after_the_end_is_an_error() -> None:
    with pytest.raises(ValueError, match="no current support period"):
        added_license_period(date(2027, 4, 1), date(2027, 3, 31))


def test_r24_support_period_rejects_inverted_bounds() -> None:
    with pytest.raises(ValueError):
        SupportPeriod(RN, date(2026, 5, 1), date(2026, 4, 1), date(2027, 3, 31))
    with pytest.raises(ValueError):
        SupportPeriod(RN, date(2026, 4, 1), date(2026, 4, 1), date(2026, 3, 31))


@pytest.mark.parametrize("kind", list(PeriodKind))
def test_r24_period_kind_values(kind: PeriodKind) -> None:
    assert PeriodKind(str(kind)) is kind
    assert {k.value for k in PeriodKind} == {"re-continuation", "renewal", "added-license"}


# Bought 2026-03-20 (re-continuation): covered 2026-03-20 .. 2027-03-31.
BOUGHT = purchase_period(date(2026, 3, 20))
RENEWED = purchase_period(date(2027, 3, 1), BOUGHT.end)  # 2027-04-01 .. 2028-03-31


@pytest.mark.parametrize(
    ("periods", "on", "expected"),
    [
        ((), date(2026, 5, 1), SupportStatus.NONE),
        ((BOUGHT,), date(2026, 3, 19), SupportStatus.LAPSED),  # day before coverage_from
        ((BOUGHT,), date(2026, 3, 20), SupportStatus.ACTIVE),  # coverage_from, before start
        ((BOUGHT,), date(2026, 4, 1), SupportStatus.ACTIVE),  # start
        ((BOUGHT,), date(2027, 3, 31), SupportStatus.ACTIVE),  # end
        ((BOUGHT,), date(2027, 4, 1), SupportStatus.LAPSED),  # end + 1
        ((BOUGHT, RENEWED), date(2027, 3, 31), SupportStatus.ACTIVE),
        ((BOUGHT, RENEWED), date(2027, 4, 1), SupportStatus.ACTIVE),  # seamless renewal
        ((BOUGHT, RENEWED), date(2028, 3, 31), SupportStatus.ACTIVE),
        ((BOUGHT, RENEWED), date(2028, 4, 1), SupportStatus.LAPSED),
    ],
)
def test_r25_support_status(
    periods: tuple[SupportPeriod, ...], on: date, expected: SupportStatus
) -> None:
    assert support_status(periods, on) is expected
    assert support_status(iter(periods), on) is expected  # any iterable, consumed once


@given(
    accepted=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
    previous_end=st.none() | st.dates(min_value=date(2019, 1, 1), max_value=date(2035, 12, 31)),
)
def test_r24_property_purchase_period(accepted: date, previous_end: date | None) -> None:
    """Every purchase is covered from its period's coverage_from through about a year."""
    p = purchase_period(accepted, previous_end)
    assert p.coverage_from <= p.start <= p.end
    assert p.end == one_year_end(p.start)
    assert 365 <= (p.end - p.start).days + 1 <= 366
    if p.kind is RC:
        assert p.coverage_from == accepted
    else:
        assert previous_end is not None
        assert p.start > previous_end  # never overlaps the previous period
        assert p.start >= accepted or p.start == previous_end + timedelta(days=1)
