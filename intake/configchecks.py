"""The configuration's value checks: times, month-days, periods, closures, patterns, hosts.

Pure functions that raise ``ValueError`` with the message ``check-config`` prints after the key;
and :data:`CROSS_CHECKS`, checks across the fields of one table (the outbox, a profile) that
:mod:`intake.schema` runs on construction after the table's own ``_problems``, each returning
``key: what is wrong`` lines relative to the table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, time
from typing import Any

from intake.text import EMAIL_ADDRESS

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LOOPBACK_HOSTS = ("localhost", "::1", "[::1]")
_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")


def parse_hhmm(value: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", value)
    if not match:
        raise ValueError(f"invalid time {value!r} (expected HH:MM)")
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"invalid time {value!r} (expected HH:MM)")
    return time(hour, minute, second)


def parse_month_day(value: str) -> tuple[int, int]:
    match = _MONTH_DAY.fullmatch(value)
    if not match:
        raise ValueError(f"invalid date {value!r} (expected MM-DD)")
    month, day = int(match[1]), int(match[2])
    try:
        date(2000, month, day)  # a leap year, so 02-29 is allowed
    except ValueError:
        raise ValueError(f"invalid date {value!r} (expected MM-DD)") from None
    return month, day


def check_periods(periods: list[tuple[str, str]]) -> None:
    previous_end: time | None = None
    for start_s, end_s in periods:
        start, end = parse_hhmm(start_s), parse_hhmm(end_s)
        if start >= end:
            raise ValueError(f"period {start_s}-{end_s} ends before it starts")
        if previous_end is not None and start <= previous_end:
            raise ValueError(f"period {start_s}-{end_s} overlaps or is out of order")
        previous_end = end


def check_holidays(ranges: list[tuple[str, str]]) -> None:
    for start, end in ranges:
        parse_month_day(start)
        parse_month_day(end)


def check_closures(ranges: list[tuple[date, date]]) -> None:
    for start, end in ranges:
        if end < start:
            raise ValueError(f"closure {start}..{end} ends before it starts")


def check_patterns(patterns: list[str]) -> None:
    for pattern in patterns:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
        if compiled.groups < 1:
            raise ValueError(f"pattern {pattern!r} needs a group for the fax number")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: a host whose traffic never leaves the machine."""
    host = host.strip().lower()
    return host in LOOPBACK_HOSTS or re.fullmatch(r"127(\.\d{1,3}){3}", host) is not None


def _outbox_problems(outbox: Any) -> list[str]:
    """An outbox that cannot work: an SMTP transport with nowhere to send, or a relay login
    whose password would cross the network in clear (as ``imap.security = "plain"``)."""
    host, user = getattr(outbox, "relay_host", ""), getattr(outbox, "relay_user", "")
    host = host.strip() if isinstance(host, str) else ""
    problems = []
    if getattr(outbox, "transport", None) == "smtp" and not host:
        problems.append(
            'relay_host: empty, but transport is "smtp" (the outbox has nowhere to send)'
        )
    if (
        getattr(outbox, "relay_starttls", True) is False
        and isinstance(user, str)
        and user
        and host
        and not is_loopback(host)
    ):
        problems.append(
            "relay_starttls: false sends relay_user's password unencrypted; it is allowed only"
            " for a loopback relay_host (127.0.0.1, ::1, localhost), not"
            f" {host!r}: set relay_starttls = true"
        )
    return problems


def is_address(value: object) -> bool:
    """One email address as the project reads a typed one (staff accounts, forms)."""
    return isinstance(value, str) and len(value) <= 254 and bool(EMAIL_ADDRESS.fullmatch(value))


def _profile_problems(profile: Any) -> list[str]:
    """Intake addresses are addresses: mail to them is what the profile takes in."""
    addresses = getattr(profile, "intake_addresses", [])
    return [
        f"intake_addresses.{index}: {address!r} is not an email address"
        for index, address in enumerate(addresses if isinstance(addresses, list) else [])
        if isinstance(address, str) and not is_address(address)
    ]


# Keyed by the model's class name (intake.configparts.OutboxConfig, intake.config.ProfileConfig).
CROSS_CHECKS: dict[str, Callable[[Any], list[str]]] = {
    "OutboxConfig": _outbox_problems,
    "ProfileConfig": _profile_problems,
}
