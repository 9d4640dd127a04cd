"""Table-driven tests for the business calendar (R9, R12, R13)."""

from __future__ import annotations

import os
import time as time_module
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intake.config import load_config
from scheduler.calendar import (
    MAX_SEARCH_DAYS,
    TOKYO,
    BusinessCalendar,
    HoursVersion,
    RecurringClosure,
)

# The shipped profiles, as the daemon builds them: the tables below test the terms' own values
# (R9, R12), not a copy of them.
SHIPPED = load_config(None, env={})
HD = SHIPPED.profile("helpdesk").calendar()
DN = SHIPPED.profile("desknet").calendar()
NEW_YORK = ZoneInfo("America/New_York")


def tokyo(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    """An aware Tokyo instant, for readable tables."""
    return datetime(y, mo, d, h, mi, s, us, tzinfo=TOKYO)


# --- R9 hours boundaries -------------------------------------------------------------------
# 2026-11-24 is a Tuesday, a business day (the day after 勤労感謝の日).

HD_BOUNDARIES = [
    (time(9, 59, 59), False),
    (time(9, 59, 59, 999999), False),
    (time(10, 0, 0), True),
    (time(11, 59, 59), True),
    (time(12, 0, 0), True),
    (time(12, 0, 0, 1), False),
    (time(12, 0, 1), False),
    (time(12, 59, 59), False),
    (time(13, 0, 0), True),
    (time(16, 59, 59), True),
    (time(17, 0, 0), True),
    (time(17, 0, 0, 1), False),
    (time(17, 0, 1), False),
    (time(0, 0), False),
    (time(23, 59, 59, 999999), False),
]

DN_BOUNDARIES = [
    (time(8, 59, 59), False),
    (time(9, 0, 0), True),
    (time(12, 0, 0), True),
    (time(12, 0, 1), False),
    (time(12, 59, 59), False),
    (time(13, 0, 0), True),
    (time(17, 0, 1), True),
    (time(17, 30, 0), True),
    (time(17, 30, 0, 1), False),
    (time(17, 30, 1), False),
]


@pytest.mark.parametrize(("wall", "expected"), HD_BOUNDARIES)
def test_r9_helpdesk_hours_boundaries(wall: time, expected: bool) -> None:
    t = datetime.combine(date(2026, 11, 24), wall, tzinfo=TOKYO)
    assert HD.is_open(t) is expected


@pytest.mark.parametrize(("wall", "expected"), DN_BOUNDARIES)
def test_r9_desknet_hours_boundaries(wall: time, expected: bool) -> None:
    t = datetime.combine(date(2026, 11, 24), wall, tzinfo=TOKYO)
    assert DN.is_open(t) is expected


@pytest.mark.parametrize(
    ("cal", "d", "expected"),
    [
        (HD, date(2026, 11, 24), tokyo(2026, 11, 24, 10)),
        (DN, date(2026, 11, 24), tokyo(2026, 11, 24, 9)),
    ],
)
def test_r9_opening_of(cal: BusinessCalendar, d: date, expected: datetime) -> None:
    assert cal.opening_of(d) == expected
    assert cal.opening_of(d).tzinfo is TOKYO


def test_r9_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        HD.is_open(datetime(2026, 11, 24, 10, 0))
    with pytest.raises(ValueError, match="naive"):
        HD.next_open(datetime(2026, 11, 24, 10, 0))


# --- R12 business days ---------------------------------------------------------------------

# Hard-coded from the Cabinet Office list (内閣府「国民の祝日について」),
# independently of the package.
OFFICIAL_HOLIDAYS = [
    (date(2026, 1, 1), "元日"),
    (date(2026, 1, 12), "成人の日"),
    (date(2026, 2, 11), "建国記念の日"),
    (date(2026, 2, 23), "天皇誕生日"),
    (date(2026, 3, 20), "春分の日"),
    (date(2026, 4, 29), "昭和の日"),
    (date(2026, 5, 3), "憲法記念日 (Sunday)"),
    (date(2026, 5, 4), "みどりの日"),
    (date(2026, 5, 5), "こどもの日"),
    (date(2026, 5, 6), "振替休日"),
    (date(2026, 7, 20), "海の日"),
    (date(2026, 8, 11), "山の日"),
    (date(2026, 9, 21), "敬老の日"),
    (date(2026, 9, 22), "国民の休日"),
    (date(2026, 9, 23), "秋分の日"),
    (date(2026, 10, 12), "スポーツの日"),
    (date(2026, 11, 3), "文化の日"),
    (date(2026, 11, 23), "勤労感謝の日 (Monday)"),
    (date(2027, 1, 1), "元日"),
    (date(2027, 1, 11), "成人の日"),
    (date(2027, 3, 22), "振替休日 (春分の日 3/21 is a Sunday)"),
    (date(2027, 5, 3), "憲法記念日"),
    (date(2027, 11, 23), "勤労感謝の日"),
]


@pytest.mark.parametrize(("d", "name"), OFFICIAL_HOLIDAYS)
def test_r12_national_holidays_official_list(d: date, name: str) -> None:
    assert HD.is_national_holiday(d), name
    assert not HD.is_business_day(d), name
    assert not DN.is_business_day(d), name


def test_r12_national_holidays_match_package_2026_2027() -> None:
    """Every date the package lists is closed; every other weekday outside closures is open."""
    listed = set(holidays.country_holidays("JP", years=[2026, 2027]))
    assert {d for d, _ in OFFICIAL_HOLIDAYS if d.year == 2026} <= listed
    d = date(2026, 1, 1)
    while d.year < 2028:
        assert HD.is_national_holiday(d) is (d in listed)
        expected = d.weekday() < 5 and d not in listed and not HD.is_company_closure(d)
        assert HD.is_business_day(d) is expected, d
        d += timedelta(days=1)


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2026, 5, 6), False),  # 振替休日 for 憲法記念日 on Sunday
        (date(2026, 5, 7), True),
        (date(2026, 11, 23), False),  # 勤労感謝の日 on Monday, no substitute needed
        (date(2026, 11, 24), True),
        (date(2027, 3, 22), False),
    ],
)
def test_r12_furikae_kyujitsu(d: date, expected: bool) -> None:
    assert HD.is_business_day(d) is expected


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2026, 9, 21), False),  # 敬老の日
        (date(2026, 9, 22), False),  # 国民の休日, between two holidays
        (date(2026, 9, 23), False),  # 秋分の日
        (date(2026, 9, 24), True),
    ],
)
def test_r12_kokumin_no_kyujitsu(d: date, expected: bool) -> None:
    assert HD.is_business_day(d) is expected


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2026, 11, 21), False),  # Saturday
        (date(2026, 11, 22), False),  # Sunday
        (date(2026, 11, 27), True),  # Friday
        (date(2026, 11, 30), True),  # Monday
    ],
)
def test_r12_weekends(d: date, expected: bool) -> None:
    assert HD.is_business_day(d) is expected
    assert DN.is_business_day(d) is expected


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2026, 12, 28), True),  # Monday, last business day of the year
        (date(2026, 12, 29), False),
        (date(2026, 12, 30), False),
        (date(2026, 12, 31), False),
        (date(2027, 1, 1), False),
        (date(2027, 1, 2), False),
        (date(2027, 1, 3), False),
        (date(2027, 1, 4), True),  # Monday, first business day
        (date(2025, 12, 29), False),  # Monday, closure only
        (date(2026, 1, 2), False),  # Friday, closure only
        (date(2026, 8, 12), True),  # Wednesday
        (date(2026, 8, 13), False),  # Thursday, summer closure
        (date(2026, 8, 14), False),
        (date(2026, 8, 17), True),  # Monday after
        (date(2027, 8, 16), False),  # Monday, summer closure
        (date(2027, 8, 17), True),
    ],
)
def test_r12_company_closures(d: date, expected: bool) -> None:
    assert HD.is_business_day(d) is expected
    assert DN.is_business_day(d) is expected


@pytest.mark.parametrize(
    ("closure", "d", "expected"),
    [
        (RecurringClosure((12, 29), (1, 3)), date(2030, 12, 28), False),
        (RecurringClosure((12, 29), (1, 3)), date(2030, 12, 29), True),
        (RecurringClosure((12, 29), (1, 3)), date(2031, 1, 3), True),
        (RecurringClosure((12, 29), (1, 3)), date(2031, 1, 4), False),
        (RecurringClosure((8, 13), (8, 16)), date(2030, 8, 12), False),
        (RecurringClosure((8, 13), (8, 16)), date(2030, 8, 16), True),
        (RecurringClosure((8, 13), (8, 16)), date(2030, 8, 17), False),
        (RecurringClosure((2, 29), (2, 29)), date(2028, 2, 29), True),
    ],
)
def test_r12_recurring_closure_wraps_year_end(
    closure: RecurringClosure, d: date, expected: bool
) -> None:
    assert closure.contains(d) is expected


def test_r12_one_off_closure() -> None:
    cal = BusinessCalendar(hours=HD.hours, closures=((date(2026, 11, 25), date(2026, 11, 26)),))
    assert cal.is_business_day(date(2026, 11, 24))
    assert not cal.is_business_day(date(2026, 11, 25))
    assert not cal.is_business_day(date(2026, 11, 26))
    assert cal.next_open(tokyo(2026, 11, 24, 18)) == tokyo(2026, 11, 27, 10)


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2026, 11, 20), date(2026, 11, 24)),  # Fri → Tue (Mon is 勤労感謝の日)
        (date(2026, 5, 1), date(2026, 5, 7)),  # Golden Week
        (date(2026, 12, 28), date(2027, 1, 4)),  # year end
        (date(2026, 12, 31), date(2027, 1, 4)),
        (date(2026, 9, 18), date(2026, 9, 24)),  # Silver Week
    ],
)
def test_r12_next_business_day(d: date, expected: date) -> None:
    assert HD.next_business_day(d) == expected


NEXT_OPEN = [
    # (calendar, instant, expected next open)
    (HD, tokyo(2026, 11, 24, 10, 30), tokyo(2026, 11, 24, 10, 30)),  # open: itself
    (HD, tokyo(2026, 11, 24, 17, 0), tokyo(2026, 11, 24, 17, 0)),  # closing instant is open
    (HD, tokyo(2026, 11, 24, 8, 0), tokyo(2026, 11, 24, 10, 0)),  # before opening
    (HD, tokyo(2026, 11, 24, 12, 0, 1), tokyo(2026, 11, 24, 13, 0)),  # lunch
    (HD, tokyo(2026, 11, 24, 12, 59, 59), tokyo(2026, 11, 24, 13, 0)),
    (HD, tokyo(2026, 11, 24, 17, 0, 0, 1), tokyo(2026, 11, 25, 10, 0)),  # after closing
    (HD, tokyo(2026, 11, 27, 17, 30), tokyo(2026, 11, 30, 10, 0)),  # Friday → Monday
    (HD, tokyo(2026, 11, 28, 11, 0), tokyo(2026, 11, 30, 10, 0)),  # Saturday
    (HD, tokyo(2026, 11, 20, 18, 0), tokyo(2026, 11, 24, 10, 0)),  # weekend + holiday
    (HD, tokyo(2026, 11, 23, 11, 0), tokyo(2026, 11, 24, 10, 0)),  # on a holiday
    (HD, tokyo(2026, 12, 28, 17, 30), tokyo(2027, 1, 4, 10, 0)),  # year end
    (HD, tokyo(2026, 8, 12, 17, 30), tokyo(2026, 8, 17, 10, 0)),  # summer closure
    (DN, tokyo(2026, 11, 24, 17, 10), tokyo(2026, 11, 24, 17, 10)),
    (DN, tokyo(2026, 11, 24, 17, 30, 1), tokyo(2026, 11, 25, 9, 0)),
    (DN, tokyo(2026, 12, 28, 17, 30), tokyo(2026, 12, 28, 17, 30)),
    (DN, tokyo(2026, 12, 28, 17, 31), tokyo(2027, 1, 4, 9, 0)),
    # UTC input: 2026-11-24T01:00Z is 10:00 in Tokyo
    (HD, datetime(2026, 11, 24, 1, 0, tzinfo=UTC), tokyo(2026, 11, 24, 10, 0)),
    (HD, datetime(2026, 11, 24, 0, 59, 59, tzinfo=UTC), tokyo(2026, 11, 24, 10, 0)),
    # 2026-11-23T16:00Z is already 11-24 01:00 in Tokyo (UTC date is the holiday)
    (HD, datetime(2026, 11, 23, 16, 0, tzinfo=UTC), tokyo(2026, 11, 24, 10, 0)),
    # 11-24 20:00 in New York is 11-25 10:00 in Tokyo
    (HD, datetime(2026, 11, 24, 20, 0, tzinfo=NEW_YORK), tokyo(2026, 11, 25, 10, 0)),
]


@pytest.mark.parametrize(("cal", "t", "expected"), NEXT_OPEN)
def test_r12_next_open(cal: BusinessCalendar, t: datetime, expected: datetime) -> None:
    got = cal.next_open(t)
    assert got == expected
    assert got.tzinfo is TOKYO
    assert got.utcoffset() == timedelta(hours=9)
    assert cal.is_open(got)


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (datetime(2026, 11, 24, 1, 0, tzinfo=UTC), True),  # 10:00 Tokyo
        (datetime(2026, 11, 24, 0, 59, 59, tzinfo=UTC), False),  # 09:59:59 Tokyo
        (datetime(2026, 11, 24, 8, 0, tzinfo=UTC), True),  # 17:00 Tokyo
        (datetime(2026, 11, 24, 8, 0, 1, tzinfo=UTC), False),
        (datetime(2026, 11, 23, 1, 0, tzinfo=UTC), False),  # holiday in Tokyo
        (datetime(2026, 11, 23, 20, 0, tzinfo=NEW_YORK), True),  # 11-24 10:00 Tokyo
    ],
)
def test_r12_judged_in_tokyo_for_utc_input(t: datetime, expected: bool) -> None:
    assert HD.is_open(t) is expected


@pytest.fixture
def server_tz() -> Iterator[None]:
    """Run with the process timezone set to New York, restoring it afterwards."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time_module.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time_module.tzset()


def _answers() -> list[tuple[bool, str]]:
    """A battery of answers that must not depend on the server's timezone."""
    return [
        (cal.is_open(t), cal.next_open(t).isoformat())
        for cal in (HD, DN, VERSIONED)
        for _, t, _ in NEXT_OPEN
    ]


def test_r12_server_timezone_does_not_matter(server_tz: None) -> None:
    assert time_module.strftime("%Z", time_module.localtime(0)) in {"EST", "EDT"}
    in_new_york = _answers()
    os.environ["TZ"] = "Asia/Tokyo"
    time_module.tzset()
    in_tokyo = _answers()
    os.environ["TZ"] = "UTC"
    time_module.tzset()
    in_utc = _answers()
    assert in_new_york == in_tokyo == in_utc


def test_r12_no_business_day_raises_instead_of_hanging() -> None:
    closed = BusinessCalendar(
        hours=HD.hours, recurring_closures=(RecurringClosure((1, 1), (12, 31)),)
    )
    with pytest.raises(ValueError, match=str(MAX_SEARCH_DAYS)):
        closed.next_business_day(date(2026, 11, 24))
    with pytest.raises(ValueError):
        closed.next_open(tokyo(2026, 11, 24, 11))


def test_r12_holidays_outside_package_range_are_weekends_only() -> None:
    assert not HD.is_national_holiday(date(2100, 1, 1))
    assert HD.next_business_day(date(9999, 12, 24)) == date(9999, 12, 27)
    with pytest.raises(ValueError):
        HD.next_business_day(date(9999, 12, 28))  # only closures until date.max


# --- R13 dated hours -----------------------------------------------------------------------

VERSIONED = BusinessCalendar(
    hours=(
        # deliberately unsorted: the calendar sorts them
        HoursVersion(date(2018, 11, 1), ((time(10, 0), time(17, 0)),)),
        HoursVersion(date(2013, 8, 1), ((time(9, 0), time(18, 0)),)),
    )
)


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (tokyo(2018, 10, 31, 17, 30), True),  # old hours 9:00–18:00
        (tokyo(2018, 10, 31, 9, 0), True),
        (tokyo(2018, 10, 31, 18, 0, 0, 1), False),
        (tokyo(2018, 11, 1, 17, 30), False),  # new hours 10:00–17:00
        (tokyo(2018, 11, 1, 9, 30), False),
        (tokyo(2018, 11, 1, 17, 0), True),
        (tokyo(2010, 1, 5, 9, 0), True),  # before the first version: the first applies
        # 2018-10-31T23:30Z is 2018-11-01 08:30 in Tokyo: the new version, before opening
        (datetime(2018, 10, 31, 23, 30, tzinfo=UTC), False),
    ],
)
def test_r13_instant_judged_by_version_in_force(t: datetime, expected: bool) -> None:
    assert VERSIONED.is_open(t) is expected


@pytest.mark.parametrize(
    ("d", "effective_from"),
    [
        (date(2000, 1, 1), date(2013, 8, 1)),
        (date(2013, 8, 1), date(2013, 8, 1)),
        (date(2018, 10, 31), date(2013, 8, 1)),
        (date(2018, 11, 1), date(2018, 11, 1)),
        (date(2030, 1, 1), date(2018, 11, 1)),
    ],
)
def test_r13_hours_on(d: date, effective_from: date) -> None:
    assert VERSIONED.hours_on(d).effective_from == effective_from


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (tokyo(2018, 10, 31, 17, 30), tokyo(2018, 10, 31, 17, 30)),
        (tokyo(2018, 10, 31, 18, 30), tokyo(2018, 11, 1, 10, 0)),  # next day by the new hours
        (tokyo(2018, 11, 1, 8, 0), tokyo(2018, 11, 1, 10, 0)),
    ],
)
def test_r13_next_open_across_versions(t: datetime, expected: datetime) -> None:
    assert VERSIONED.next_open(t) == expected


@pytest.mark.parametrize(
    "make",
    [
        lambda: HoursVersion(date(2020, 1, 1), ()),
        lambda: HoursVersion(date(2020, 1, 1), ((time(12, 0), time(10, 0)),)),
        lambda: HoursVersion(
            date(2020, 1, 1), ((time(10, 0), time(12, 0)), (time(12, 0), time(17, 0)))
        ),
        lambda: HoursVersion(
            date(2020, 1, 1), ((time(13, 0), time(17, 0)), (time(10, 0), time(12, 0)))
        ),
        lambda: HoursVersion(date(2020, 1, 1), ((time(10, 0), time(12, 0)),), frozenset({7})),
        lambda: HoursVersion(date(2020, 1, 1), ((time(10, 0), time(12, 0)),), frozenset()),
        lambda: HoursVersion(date(2020, 1, 1), ((time(10, 0, tzinfo=UTC), time(12, 0)),)),
        lambda: BusinessCalendar(hours=()),
        lambda: BusinessCalendar(hours=HD.hours + HD.hours),
        lambda: BusinessCalendar(hours=HD.hours, closures=((date(2026, 2, 1), date(2026, 1, 1)),)),
        lambda: RecurringClosure((2, 30), (3, 1)),
    ],
)
def test_r13_misconfiguration_is_rejected(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        make()


# --- properties ----------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2028, 12, 31, 23, 59, 59, 999999),
    timezones=st.sampled_from([TOKYO, UTC, NEW_YORK]),
    allow_imaginary=False,
)


@settings(max_examples=300, deadline=None)
@given(t=instants, cal=st.sampled_from([HD, DN, VERSIONED]))
def test_r12_property_next_open(t: datetime, cal: BusinessCalendar) -> None:
    got = cal.next_open(t)
    assert got >= t
    assert cal.is_open(got)
    assert got.tzinfo is TOKYO
    if got != t:
        assert not cal.is_open(t)
        # nothing open in between: one microsecond before the result is closed
        assert not cal.is_open(got - timedelta(microseconds=1))

