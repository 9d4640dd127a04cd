"""Business time (R9, R12, R13): what response targets count, table-tested, and
``uketsuke calendar add-business-hours`` that prints it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intake.config import load_config
from scheduler.businesstime import add_business_hours, add_business_time, business_time_between
from scheduler.calendar import TOKYO
from tests.test_cli_time import run

SHIPPED = load_config(None, env={})
HD = SHIPPED.profile("helpdesk").calendar()  # 10:00–12:00, 13:00–17:00
DN = SHIPPED.profile("desknet").calendar()  # 9:00–12:00, 13:00–17:30
# The helpdesk's hours change on Tue 2026-12-01 to 9:00–12:00, 13:00–18:00 (R13).
CHANGED_HOURS = """
[[profiles.helpdesk.hours]]
effective_from = 2018-11-01
periods = [["10:00", "12:00"], ["13:00", "17:00"]]
[[profiles.helpdesk.hours]]
effective_from = 2026-12-01
periods = [["09:00", "12:00"], ["13:00", "18:00"]]
"""


def tokyo(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TOKYO)


def changed_calendar(tmp_path: Path):  # noqa: ANN201 - a BusinessCalendar
    path = tmp_path / "hours.toml"
    path.write_text(CHANGED_HOURS, encoding="utf-8")
    return load_config(path, env={}).profile("helpdesk").calendar()


# 2026-11-24 Tue; 11-23 Mon 勤労感謝の日; 11-27 Fri; 2026-05-01 Fri, then 5/2–5/6 closed (5/6
# 振替休日); 12-29..01-03 the year-end closure; 2027-01-04 Mon a business day.
HD_CASES = [
    # (start, hours, due, why)
    (tokyo(2026, 11, 24, 10, 30), 2, tokyo(2026, 11, 24, 13, 30), "across lunch"),
    (tokyo(2026, 11, 24, 11, 0), 1, tokyo(2026, 11, 24, 12, 0), "ends at the period's end"),
    (tokyo(2026, 11, 24, 12, 30), 1, tokyo(2026, 11, 24, 14, 0), "starts in lunch"),
    (tokyo(2026, 11, 24, 7, 0), 0.5, tokyo(2026, 11, 24, 10, 30), "before opening"),
    (tokyo(2026, 11, 27, 16, 30), 8, tokyo(2026, 12, 1, 11, 30), "Friday 16:30, eight hours"),
    (tokyo(2026, 11, 27, 18, 0), 1, tokyo(2026, 11, 30, 11, 0), "Friday evening"),
    (tokyo(2026, 11, 28, 15, 0), 0, tokyo(2026, 11, 30, 10, 0), "zero: the next opening"),
    (tokyo(2026, 11, 20, 16, 0), 2, tokyo(2026, 11, 24, 11, 0), "holiday Monday skipped"),
    (tokyo(2026, 5, 1, 16, 0), 3, tokyo(2026, 5, 7, 12, 0), "Golden Week"),
    (tokyo(2026, 12, 28, 16, 0), 3, tokyo(2027, 1, 4, 12, 0), "year-end closure"),
    (tokyo(2026, 8, 12, 16, 30), 1, tokyo(2026, 8, 17, 10, 30), "summer closure"),
    (tokyo(2026, 11, 24, 10, 0), 1.25, tokyo(2026, 11, 24, 11, 15), "a fraction"),
    (datetime(2026, 11, 24, 1, 0, tzinfo=UTC), 1, tokyo(2026, 11, 24, 11, 0), "UTC in Tokyo"),
]


@pytest.mark.parametrize(("start", "hours", "due", "why"), HD_CASES)
def test_r9_r12_add_business_hours_helpdesk(
    start: datetime, hours: float, due: datetime, why: str
) -> None:
    got = add_business_hours(HD, start, hours)
    assert got == due, why
    assert got.utcoffset() == timedelta(hours=9)


def test_r12_add_business_hours_skips_lunch() -> None:
    assert add_business_hours(HD, tokyo(2026, 11, 24, 11, 30), 1) == tokyo(2026, 11, 24, 13, 30)
    assert add_business_hours(DN, tokyo(2026, 11, 24, 11, 30), 1) == tokyo(2026, 11, 24, 13, 30)


def test_r9_desknet_counts_its_own_hours() -> None:
    # DN is open until 17:30: half an hour on Friday, half an hour on Monday.
    assert add_business_hours(DN, tokyo(2026, 11, 27, 17, 0), 1) == tokyo(2026, 11, 30, 9, 30)


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        (tokyo(2026, 11, 30, 16, 0), 3, tokyo(2026, 12, 1, 11, 0)),  # 1 h old, 2 h from 9:00
        (tokyo(2026, 12, 1, 17, 30), 1, tokyo(2026, 12, 2, 9, 30)),  # open till 18:00 now
        (tokyo(2026, 11, 30, 17, 30), 1, tokyo(2026, 12, 1, 10, 0)),  # old close, new opening
    ],
)
def test_r13_add_business_hours_follows_dated_hours(
    tmp_path: Path, start: datetime, hours: float, due: datetime
) -> None:
    assert add_business_hours(changed_calendar(tmp_path), start, hours) == due


def test_r12_business_time_between() -> None:
    friday, tuesday = tokyo(2026, 11, 27, 16, 30), tokyo(2026, 12, 1, 11, 30)
    assert business_time_between(HD, friday, tuesday) == timedelta(hours=8)
    assert business_time_between(HD, tuesday, friday) == -timedelta(hours=8)
    lunch = business_time_between(HD, tokyo(2026, 11, 24, 11, 0), tokyo(2026, 11, 24, 14, 0))
    assert lunch == timedelta(hours=2)
    weekend = business_time_between(HD, tokyo(2026, 11, 28, 9), tokyo(2026, 11, 29, 20))
    assert weekend == timedelta(0)


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    minutes=st.integers(min_value=0, max_value=60 * 40),
)
def test_r12_business_time_between_undoes_add(start: datetime, minutes: int) -> None:
    begin = start.replace(tzinfo=TOKYO)
    amount = timedelta(minutes=minutes)
    due = add_business_time(HD, begin, amount)
    assert HD.is_open(due)
    assert business_time_between(HD, begin, due) == amount


def test_r12_add_business_time_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="naive"):
        add_business_hours(HD, datetime(2026, 11, 24, 10, 0), 1)
    with pytest.raises(ValueError, match="out of range"):
        add_business_hours(HD, tokyo(2026, 11, 24, 10), -1)


@pytest.mark.parametrize(
    ("profile", "when", "hours", "expected"),
    [
        ("helpdesk", "2026-11-24T11:30:00", "1", "2026-11-24T13:30:00+09:00"),
        ("helpdesk", "2026-11-27T16:30", "8", "2026-12-01T11:30:00+09:00"),
        ("helpdesk", "2026-05-01T16:00", "3", "2026-05-07T12:00:00+09:00"),
        ("helpdesk", "2026-12-28T16:00", "3", "2027-01-04T12:00:00+09:00"),
        ("helpdesk", "2026-11-24T01:00:00Z", "1.5", "2026-11-24T11:30:00+09:00"),
        ("desknet", "2026-11-27T17:00", "1", "2026-11-30T09:30:00+09:00"),
    ],
)
def test_r9_r12_add_business_hours_command(capsys, profile, when, hours, expected) -> None:
    got = run(capsys, "calendar", "--profile", profile, "add-business-hours", when, hours)
    assert got == (0, expected, "")


def test_r13_add_business_hours_command_reads_dated_hours(capsys, tmp_path: Path) -> None:
    path = tmp_path / "hours.toml"
    path.write_text(CHANGED_HOURS, encoding="utf-8")
    got = run(
        capsys, "calendar", "--config", str(path), "add-business-hours", "2026-11-30T16:00", "3"
    )
    assert got == (0, "2026-12-01T11:00:00+09:00", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add-business-hours", "2026-11-24T10:00"], "HOURS is given"),
        (["next-open", "2026-11-24T10:00", "3"], "HOURS is given"),
        (["add-business-hours", "2026-11-24T10:00", "eight"], "give a number"),
        (["add-business-hours", "2026-11-24T10:00", "-1"], "zero or more"),
        (["add-business-hours", "2026-11-24T10:00", "1e9"], "out of range"),
    ],
)
def test_r30_add_business_hours_bad_input(capsys, args: list[str], message: str) -> None:
    code, out, err = run(capsys, "calendar", *args)
    assert code == 2 and out == ""
    assert message in err and "\n" not in err
