"""Business calendar: business days, dated opening hours and the next opening (R9, R12, R13).

Everything here is pure: instants are passed in, never read from the wall clock, and nothing
touches the server's local timezone.  R12 says all times are judged in Asia/Tokyo whatever the
server's timezone, so every aware instant is converted to :data:`TOKYO` before its date or wall
time is looked at, and naive datetimes are refused (a naive value would silently mean "server
local time").

Decisions recorded here (the terms leave them open):

* A reception period is open from its start *inclusive* to its end *inclusive*.  The terms say
  "10:00～12:00、13:00～17:00"; reading the end as included is the customer-favourable reading,
  so 17:00:00.000000 is open and 17:00:00.000001 is not, 12:00:00 is open and 12:00:01 is lunch.
* Hours carry the date they take effect (R13, HD 附則 第2条).  A date before the earliest
  version is judged by the earliest version rather than rejected: the daemon may meet old mail.
* Every search forward is bounded (:data:`MAX_SEARCH_DAYS`): a misconfigured calendar with no
  business day raises :class:`ValueError` instead of hanging the daemon.

The profiles' actual hours and closures are configuration (``intake.config.builtin_profiles``,
the one place they are written); this module only knows how to judge them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

__all__ = [
    "MAX_SEARCH_DAYS",
    "TOKYO",
    "BusinessCalendar",
    "HoursVersion",
    "RecurringClosure",
    "to_tokyo",
]

TOKYO = ZoneInfo("Asia/Tokyo")
"""R12: the one timezone every instant is judged in."""

MAX_SEARCH_DAYS = 400
"""Upper bound for forward searches; longer than any plausible run of closed days (a year)."""

WEEKDAYS: frozenset[int] = frozenset({0, 1, 2, 3, 4})
"""Monday..Friday (``date.weekday()`` numbering, Monday=0): R9/R12 exclude Saturday and Sunday."""


def to_tokyo(t: datetime) -> datetime:
    """Return ``t`` converted to Asia/Tokyo (R12).

    A naive datetime raises :class:`ValueError`: it would be interpreted in the server's local
    timezone, which R12 forbids.
    """
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime {t!r}: pass a timezone-aware instant (R12)")
    return t.astimezone(TOKYO)


def format_instant(value: datetime) -> str:
    """ISO 8601 in Asia/Tokyo, seconds precision: 2026-11-24T10:00:00+09:00 (R12)."""
    return value.astimezone(TOKYO).replace(microsecond=0).isoformat()


@cache
def _jp_holidays(year: int) -> frozenset[date]:
    """National holidays of ``year``, computed once per year.

    The ``holidays`` package (JP, default "public" category) includes 振替休日 and 国民の休日
    (R12).  It covers 1949–2099; outside that range it knows no holidays, so only weekends and
    company closures close the desk there.

    Imported here, not at the top: loading it takes most of a ``uketsuke calendar`` run, and
    commands that never judge a date (``--help``, ``check-config``) should not pay for it.
    """
    import holidays

    return frozenset(holidays.country_holidays("JP", years=year).keys())


def _check_wall_time(t: time, what: str) -> None:
    """Hours are Tokyo wall times; a time carrying its own tzinfo would be ambiguous."""
    if t.tzinfo is not None:
        raise ValueError(f"{what} {t!r} must be a naive wall time (it is read in Asia/Tokyo)")


@dataclass(frozen=True)
class HoursVersion:
    """One version of a profile's reception hours, in force from ``effective_from`` (R9, R13).

    ``periods`` are Tokyo wall-time intervals, each open from start to end, both inclusive
    (customer-favourable reading of "～").  They must be sorted and must not touch: with
    inclusive ends, a period ending 12:00 and one starting 12:00 would be one period.
    ``weekdays`` are the days of the week with reception (Monday=0); R12 removes Saturday and
    Sunday by default.
    """

    effective_from: date
    periods: tuple[tuple[time, time], ...]
    weekdays: frozenset[int] = field(default=WEEKDAYS)

    def __post_init__(self) -> None:
        """Validate early so a bad configuration fails at load, not at 17:00 on a Friday."""
        periods = tuple((start, end) for start, end in self.periods)
        object.__setattr__(self, "periods", periods)
        object.__setattr__(self, "weekdays", frozenset(self.weekdays))
        if not periods:
            raise ValueError("an hours version needs at least one period (R9)")
        previous_end: time | None = None
        for start, end in periods:
            _check_wall_time(start, "period start")
            _check_wall_time(end, "period end")
            if not start < end:
                raise ValueError(f"period {start}–{end}: start must be before end (R9)")
            if previous_end is not None and not previous_end < start:
                raise ValueError("periods must be sorted and must not overlap or touch (R9)")
            previous_end = end
        if not self.weekdays or not self.weekdays <= frozenset(range(7)):
            raise ValueError(f"weekdays {sorted(self.weekdays)} must be a non-empty subset of 0..6")

    def is_open_at(self, wall: time) -> bool:
        """Whether the Tokyo wall time falls in a period (both ends inclusive, R9)."""
        return any(start <= wall <= end for start, end in self.periods)


@dataclass(frozen=True)
class RecurringClosure:
    """A company holiday repeating every year, e.g. 夏期休暇 or 年末年始 (R12).

    HD 仕様書 4.1 and DN 2(1) name these closures without dates; the profile configures them.

    ``start`` and ``end`` are ``(month, day)`` and inclusive.  When ``start`` comes after ``end``
    the closure wraps the year end: ``(12, 29)``..``(1, 3)`` closes 12/29–12/31 and 1/1–1/3 of
    every year.
    """

    start: tuple[int, int]
    end: tuple[int, int]

    def __post_init__(self) -> None:
        """Reject impossible month/day pairs (2/29 is allowed: it exists in leap years)."""
        for month, day in (self.start, self.end):
            date(2000, month, day)  # 2000 is a leap year; raises ValueError if impossible

    def contains(self, d: date) -> bool:
        """Whether ``d`` falls in the closure, wrapping across the year end when needed."""
        md = (d.month, d.day)
        if self.start <= self.end:
            return self.start <= md <= self.end
        return md >= self.start or md <= self.end


@dataclass(frozen=True)
class BusinessCalendar:
    """A profile's business calendar: dated hours, company closures and the license cutoff.

    ``hours`` are sorted by ``effective_from`` here (R13); two versions taking effect the same day
    are a configuration error.  ``closures`` are one-off company closures, inclusive date
    ranges.  ``license_cutoff`` is the R14 cutoff (Tokyo wall time, inclusive).
    """

    hours: tuple[HoursVersion, ...]
    recurring_closures: tuple[RecurringClosure, ...] = ()
    closures: tuple[tuple[date, date], ...] = ()
    license_cutoff: time = time(17, 0)
    _starts: tuple[date, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Sort the versions, validate closures and cutoff, and index the effective dates."""
        hours = tuple(sorted(self.hours, key=lambda v: v.effective_from))
        if not hours:
            raise ValueError("a business calendar needs at least one hours version (R13)")
        starts = tuple(v.effective_from for v in hours)
        if len(set(starts)) != len(starts):
            raise ValueError("two hours versions take effect on the same date (R13)")
        closures = tuple((a, b) for a, b in self.closures)
        for a, b in closures:
            if a > b:
                raise ValueError(f"closure {a}..{b}: start after end (R12)")
        _check_wall_time(self.license_cutoff, "license cutoff")
        object.__setattr__(self, "hours", hours)
        object.__setattr__(self, "recurring_closures", tuple(self.recurring_closures))
        object.__setattr__(self, "closures", closures)
        object.__setattr__(self, "_starts", starts)

    def is_national_holiday(self, d: date) -> bool:
        """Whether ``d`` is a Japanese national holiday, 振替休日 and 国民の休日 included (R12)."""
        return d in _jp_holidays(d.year)

    def is_company_closure(self, d: date) -> bool:
        """Whether ``d`` is a configured company holiday, recurring or one-off (R12)."""
        return any(c.contains(d) for c in self.recurring_closures) or any(
            a <= d <= b for a, b in self.closures
        )

    def is_business_day(self, d: date) -> bool:
        """R12: a reception weekday (not Sat/Sun), not a national holiday, not a closure.

        The weekdays come from the hours version in force on ``d`` (R13).
        """
        return (
            d.weekday() in self.hours_on(d).weekdays
            and not self.is_national_holiday(d)
            and not self.is_company_closure(d)
        )

    def hours_on(self, d: date) -> HoursVersion:
        """R13: the latest version with ``effective_from <= d``; before the first, the first."""
        index = bisect_right(self._starts, d) - 1
        return self.hours[max(index, 0)]

    def is_open(self, t: datetime) -> bool:
        """Whether the aware instant ``t`` is within reception hours (R9, R12, R13).

        ``t`` is converted to Asia/Tokyo; its Tokyo date must be a business day and its wall
        time must fall in a period of the version in force that day (ends inclusive).
        A naive ``t`` raises :class:`ValueError`.
        """
        local = to_tokyo(t)
        d = local.date()
        return self.is_business_day(d) and self.hours_on(d).is_open_at(local.time())

    def opening_of(self, d: date) -> datetime:
        """The first period start of day ``d`` (aware, Tokyo), by the version in force (R13).

        It does not check that ``d`` is a business day; callers pass one.
        """
        return datetime.combine(d, self.hours_on(d).periods[0][0], tzinfo=TOKYO)

    def next_business_day(self, d: date) -> date:
        """The first business day strictly after ``d`` (R12).

        Searches at most :data:`MAX_SEARCH_DAYS` days, then raises :class:`ValueError`.
        """
        for candidate in _days_after(d, MAX_SEARCH_DAYS):
            if self.is_business_day(candidate):
                return candidate
        raise ValueError(f"no business day within {MAX_SEARCH_DAYS} days after {d} (R12)")

    def next_open(self, t: datetime) -> datetime:
        """The first open instant at or after ``t`` (R8, R9, R12), aware in Tokyo.

        ``t`` itself (converted to Tokyo) when open; otherwise the start of a later period the
        same day (after lunch, before opening) or the opening of the next business day.
        """
        local = to_tokyo(t)
        d = local.date()
        if self.is_business_day(d):
            wall = local.time()
            for start, end in self.hours_on(d).periods:
                if wall <= end:
                    if wall >= start:
                        return local
                    return datetime.combine(d, start, tzinfo=TOKYO)
        return self.opening_of(self.next_business_day(d))


def _days_after(d: date, limit: int) -> Iterable[date]:
    """The ``limit`` days following ``d``; stops early at ``date.max`` instead of overflowing."""
    for offset in range(1, limit + 1):
        try:
            yield d + timedelta(days=offset)
        except OverflowError:
            return
