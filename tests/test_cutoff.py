"""Table-driven tests for the license-key cutoff (R14)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intake.config import load_config
from scheduler.calendar import (
    TOKYO,
    BusinessCalendar,
    HoursVersion,
)
from scheduler.cutoff import is_same_day, license_due

# The shipped profiles, as the daemon builds them (R14 on the terms' own cutoff and hours).
SHIPPED = load_config(None, env={})
DN = SHIPPED.profile("desknet").calendar()
HD = SHIPPED.profile("helpdesk").calendar()
NEW_YORK = ZoneInfo("America/New_York")


def tokyo(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    """An aware Tokyo instant, for readable tables."""
    return datetime(y, mo, d, h, mi, s, us, tzinfo=TOKYO)


# 2026-11-24 Tue, 11-25 Wed are business days; 11-27 Fri; 11-23 Mon is 勤労感謝の日.
DN_CASES = [
    # (received, due, why)
    (tokyo(2026, 11, 24, 17, 0, 0), tokyo(2026, 11, 24, 17, 0, 0), "17:00:00 is same day"),
    (tokyo(2026, 11, 24, 17, 0, 0, 1), tokyo(2026, 11, 25, 9, 0), "17:00:00.000001 is next"),
    (tokyo(2026, 11, 24, 17, 0, 1), tokyo(2026, 11, 25, 9, 0), "17:00:01 is next day"),
    (tokyo(2026, 11, 24, 16, 59, 59), tokyo(2026, 11, 24, 16, 59, 59), "at once"),
    (tokyo(2026, 11, 24, 17, 10), tokyo(2026, 11, 25, 9, 0), "open till 17:30, cutoff 17:00"),
    (tokyo(2026, 11, 24, 17, 30), tokyo(2026, 11, 25, 9, 0), "closing instant, after cutoff"),
    (tokyo(2026, 11, 24, 8, 0), tokyo(2026, 11, 24, 9, 0), "before opening: that opening"),
    (tokyo(2026, 11, 24, 0, 0), tokyo(2026, 11, 24, 9, 0), "midnight: that day's opening"),
    (tokyo(2026, 11, 24, 9, 0), tokyo(2026, 11, 24, 9, 0), "at opening"),
    (tokyo(2026, 11, 24, 12, 30), tokyo(2026, 11, 24, 12, 30), "lunch, before cutoff: at once"),
    (tokyo(2026, 11, 27, 17, 1), tokyo(2026, 11, 30, 9, 0), "Friday 17:01 → Monday"),
    (tokyo(2026, 11, 28, 10, 0), tokyo(2026, 11, 30, 9, 0), "Saturday → Monday"),
    (tokyo(2026, 11, 29, 23, 59), tokyo(2026, 11, 30, 9, 0), "Sunday night → Monday"),
    (tokyo(2026, 11, 20, 17, 1), tokyo(2026, 11, 24, 9, 0), "Fri before holiday Monday → Tue"),
    (tokyo(2026, 11, 23, 11, 0), tokyo(2026, 11, 24, 9, 0), "on a holiday"),
    (tokyo(2026, 9, 18, 18, 0), tokyo(2026, 9, 24, 9, 0), "before Silver Week (9/22 国民の休日)"),
    (tokyo(2026, 5, 1, 17, 30), tokyo(2026, 5, 7, 9, 0), "before Golden Week (5/6 振替休日)"),
    (tokyo(2026, 12, 28, 18, 0), tokyo(2027, 1, 4, 9, 0), "12-28 18:00 → 01-04"),
    (tokyo(2026, 12, 28, 16, 0), tokyo(2026, 12, 28, 16, 0), "last business day, in time"),
    (tokyo(2026, 12, 31, 10, 0), tokyo(2027, 1, 4, 9, 0), "in the year-end closure"),
    (tokyo(2026, 8, 12, 17, 5), tokyo(2026, 8, 17, 9, 0), "before the summer closure"),
    # UTC and other zones are judged in Tokyo
    (datetime(2026, 11, 24, 8, 0, tzinfo=UTC), tokyo(2026, 11, 24, 17, 0), "08:00Z = 17:00"),
    (datetime(2026, 11, 24, 8, 0, 1, tzinfo=UTC), tokyo(2026, 11, 25, 9, 0), "08:00:01Z"),
    (datetime(2026, 11, 23, 23, 0, tzinfo=UTC), tokyo(2026, 11, 24, 9, 0), "UTC 23:00 = 08:00"),
    (datetime(2026, 11, 23, 14, 0, tzinfo=UTC), tokyo(2026, 11, 24, 9, 0), "23:00 on the holiday"),
    (datetime(2026, 11, 22, 20, 0, tzinfo=NEW_YORK), tokyo(2026, 11, 24, 9, 0), "NY Sun 20:00"),
]


@pytest.mark.parametrize(("received", "due", "why"), DN_CASES)
def test_r14_desknet_license_due(received: datetime, due: datetime, why: str) -> None:
    got = license_due(DN, received)
    assert got == due, why
    assert got.tzinfo is TOKYO


@pytest.mark.parametrize(
    ("received", "same_day"),
    [
        (tokyo(2026, 11, 24, 17, 0, 0), True),
        (tokyo(2026, 11, 24, 17, 0, 0, 1), False),
        (tokyo(2026, 11, 24, 17, 0, 1), False),
        (tokyo(2026, 11, 24, 0, 0), True),
        (tokyo(2026, 11, 28, 10, 0), False),
        (tokyo(2026, 11, 23, 10, 0), False),
    ],
)
def test_r14_cutoff_is_inclusive(received: datetime, same_day: bool) -> None:
    assert is_same_day(DN, received) is same_day


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (tokyo(2026, 11, 24, 8, 0), tokyo(2026, 11, 24, 10, 0)),
        (tokyo(2026, 11, 24, 12, 30), tokyo(2026, 11, 24, 12, 30)),
        (tokyo(2026, 11, 24, 17, 0), tokyo(2026, 11, 24, 17, 0)),
        (tokyo(2026, 11, 24, 17, 0, 1), tokyo(2026, 11, 25, 10, 0)),
    ],
)
def test_r14_helpdesk_hours_use_their_own_opening(received: datetime, due: datetime) -> None:
    assert license_due(HD, received) == due


@pytest.mark.parametrize(
    ("cutoff", "received", "due"),
    [
        (time(15, 0), tokyo(2026, 11, 24, 15, 0), tokyo(2026, 11, 24, 15, 0)),
        (time(15, 0), tokyo(2026, 11, 24, 15, 0, 1), tokyo(2026, 11, 25, 9, 0)),
        (time(18, 0), tokyo(2026, 11, 24, 17, 45), tokyo(2026, 11, 24, 17, 45)),
    ],
)
def test_r14_cutoff_is_configurable(cutoff: time, received: datetime, due: datetime) -> None:
    cal = BusinessCalendar(
        hours=DN.hours, recurring_closures=DN.recurring_closures, license_cutoff=cutoff
    )
    assert license_due(cal, received) == due


def test_r14_naive_received_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        license_due(DN, datetime(2026, 11, 24, 10, 0))


def test_r14_opening_from_dated_hours() -> None:
    """The opening used is the one in force on the due date (R13 with R14)."""
    cal = BusinessCalendar(
        hours=(
            HoursVersion(date(2018, 1, 1), ((time(9, 0), time(18, 0)),)),
            HoursVersion(date(2018, 11, 1), ((time(10, 0), time(17, 0)),)),
        )
    )
    assert license_due(cal, tokyo(2018, 10, 31, 17, 30)) == tokyo(2018, 11, 1, 10, 0)
    assert license_due(cal, tokyo(2018, 10, 31, 7, 0)) == tokyo(2018, 10, 31, 9, 0)


instants = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2028, 12, 31, 23, 59, 59, 999999),
    timezones=st.sampled_from([TOKYO, UTC, NEW_YORK]),
    allow_imaginary=False,
)


@settings(max_examples=300, deadline=None)
@given(t=instants, cal=st.sampled_from([DN, HD]))
def test_r14_property_due_not_before_received(t: datetime, cal: BusinessCalendar) -> None:
    due = license_due(cal, t)
    assert due >= t
    assert due == t or cal.is_open(due)
    assert due.tzinfo is TOKYO
    if is_same_day(cal, t):
        assert due.date() == t.astimezone(TOKYO).date()
    else:
        assert due.date() > t.astimezone(TOKYO).date()
        assert due == cal.opening_of(due.date())
    assert due - t < timedelta(days=20)
