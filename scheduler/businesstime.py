"""Business time: adding and measuring time counted in a profile's business hours (R9, R12, R13).

Response targets (docs/rules.md, "Response targets") are given in business hours: eight business
hours after a mail received on Friday at 16:30 is not Saturday 00:30 but Tuesday 11:30 on the
helpdesk calendar. Only open time counts: nights, the lunch break, weekends, national holidays and
company closures are skipped, and each day is judged by the hours version in force that day.

Pure, like :mod:`scheduler.calendar`: instants are passed in and returned aware, in Asia/Tokyo.
A period is open from its start to its end (both inclusive, R9), so 10:00–12:00 holds exactly two
business hours; an addition that ends at a period's end returns that end (12:00), not the next
opening.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from scheduler.calendar import TOKYO, BusinessCalendar

__all__ = ["add_business_hours", "add_business_time", "business_time_between"]

# Just after a period's inclusive end: the next open instant is then the next period's start.
_AFTER = timedelta(microseconds=1)
# Bound on additions: a year of business hours and more; a larger amount is a mistake.
MAX_AMOUNT = timedelta(hours=24 * 400)


def _period_end(calendar: BusinessCalendar, open_at: datetime) -> datetime:
    """The end of the period holding the open instant ``open_at`` (aware, Tokyo)."""
    day = open_at.date()
    wall = open_at.time().replace(tzinfo=None)
    for start, end in calendar.hours_on(day).periods:
        if start <= wall <= end:
            return datetime.combine(day, end, tzinfo=TOKYO)
    raise AssertionError(f"{open_at} is not open")  # next_open returns open instants only


def add_business_time(calendar: BusinessCalendar, start: datetime, amount: timedelta) -> datetime:
    """The first instant at which ``amount`` of business time has passed since ``start``.

    Time before the first opening at or after ``start`` does not count; a zero ``amount`` gives
    that opening. A negative amount or one beyond :data:`MAX_AMOUNT` raises :class:`ValueError`,
    as does a naive ``start`` (R12).
    """
    if amount < timedelta(0) or amount > MAX_AMOUNT:
        raise ValueError(f"business time {amount} out of range (0 to {MAX_AMOUNT.days} days)")
    remaining = amount
    cursor = start
    while True:
        opened = calendar.next_open(cursor)
        end = _period_end(calendar, opened)
        if remaining <= end - opened:
            return opened + remaining
        remaining -= end - opened
        cursor = end + _AFTER


def add_business_hours(calendar: BusinessCalendar, start: datetime, hours: float) -> datetime:
    """:func:`add_business_time` with the amount in hours (``uketsuke calendar
    add-business-hours``); fractions count to the second."""
    return add_business_time(calendar, start, timedelta(seconds=round(hours * 3600)))


def business_time_between(calendar: BusinessCalendar, a: datetime, b: datetime) -> timedelta:
    """The business time from ``a`` to ``b``; negative when ``b`` is before ``a``."""
    if b < a:
        return -business_time_between(calendar, b, a)
    total = timedelta(0)
    cursor = a
    while True:
        opened = calendar.next_open(cursor)
        if opened >= b:
            return total
        end = _period_end(calendar, opened)
        total += min(end, b) - opened
        if end >= b:
            return total
        cursor = end + _AFTER
