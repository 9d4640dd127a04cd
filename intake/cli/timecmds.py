"""``uketsuke calendar`` and ``uketsuke support-period``: the time rules as a user runs them.

The rules are imported by the handlers (start-up rule in ``intake.cli.common``).
"""

from __future__ import annotations

import argparse
from typing import Any

from intake.cli.common import (
    CliError,
    add_config_option,
    config_from,
    parse_date,
    parse_instant,
    print_json,
)
from scheduler.calendar import format_instant

CALENDAR_COMMANDS = ("business-day", "is-open", "next-open", "license-due", "add-business-hours")


def register(commands: Any) -> None:
    calendar = commands.add_parser(
        "calendar", help="business calendar of a profile (R9, R12, R13, R14)"
    )
    add_config_option(calendar)
    calendar.add_argument("--profile", help="profile name (default: the default profile)")
    calendar.add_argument(
        "query", choices=CALENDAR_COMMANDS, metavar="COMMAND", help=" | ".join(CALENDAR_COMMANDS)
    )
    calendar.add_argument("when", metavar="TIME", help="ISO 8601 date or time (Asia/Tokyo)")
    calendar.add_argument(
        "hours", metavar="HOURS", nargs="?", help="add-business-hours: business hours to add"
    )
    calendar.set_defaults(handler=run_calendar)

    period = commands.add_parser("support-period", help="annual support period (R24)")
    period.add_argument("--accepted", metavar="DATE", help="order accepted date of a purchase")
    period.add_argument("--previous-end", metavar="DATE", help="end of the previous period")
    period.add_argument("--added", metavar="DATE", help="purchase date of an added license")
    period.add_argument("--current-end", metavar="DATE", help="end of the current period")
    period.set_defaults(handler=run_support_period)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def run_calendar(args: argparse.Namespace) -> int:
    from scheduler.businesstime import add_business_hours
    from scheduler.cutoff import license_due

    calendar = config_from(args).profile(args.profile).calendar()
    if (args.hours is None) != (args.query != "add-business-hours"):
        raise CliError("HOURS is given with add-business-hours, and only with it")
    if args.query == "business-day":
        text = args.when.strip()
        day = parse_date(text) if len(text) <= 10 else parse_instant(text).date()
        print(_bool(calendar.is_business_day(day)))
        return 0
    instant = parse_instant(args.when)
    try:
        if args.query == "is-open":
            print(_bool(calendar.is_open(instant)))
        elif args.query == "next-open":
            print(format_instant(calendar.next_open(instant)))
        elif args.query == "add-business-hours":
            print(format_instant(add_business_hours(calendar, instant, _hours(args.hours))))
        else:
            print(format_instant(license_due(calendar, instant)))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return 0


def _hours(text: str) -> float:
    try:
        hours = float(text)
    except ValueError:
        raise CliError(f"HOURS {text!r}: give a number of business hours, e.g. 8 or 1.5") from None
    if not hours >= 0:
        raise CliError(f"HOURS {text!r}: must be zero or more")
    return hours


def run_support_period(args: argparse.Namespace) -> int:
    from scheduler.periods import added_license_period, purchase_period

    try:
        if args.added or args.current_end:
            if not (args.added and args.current_end) or args.accepted or args.previous_end:
                raise CliError("use --added DATE --current-end DATE together, and nothing else")
            period = added_license_period(parse_date(args.added), parse_date(args.current_end))
        elif args.accepted:
            previous = parse_date(args.previous_end) if args.previous_end else None
            period = purchase_period(parse_date(args.accepted), previous)
        else:
            raise CliError(
                "give --accepted DATE [--previous-end DATE] or --added DATE --current-end DATE"
            )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print_json(
        {
            "kind": str(period.kind),
            "coverage_from": period.coverage_from.isoformat(),
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
        }
    )
    return 0
