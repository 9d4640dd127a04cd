"""The desk from the command line: ``incidents assign N EMAIL | --none`` and
``staff away EMAIL --until DATE | --clear`` (docs/staff.md, "担当と二重対応防止")."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from typing import Any

from intake.cli.common import CliError, config_from, echo, engine_from

# Handlers import what they use in their bodies (start-up rule in intake.cli.common).


def add_incident_parsers(actions: Any, add_config_option: Any) -> None:
    assign = actions.add_parser("assign", help="give an incident to a staff member (or nobody)")
    add_config_option(assign)
    assign.add_argument("number", type=int)
    assign.add_argument("staff", nargs="?", metavar="STAFF_EMAIL")
    assign.add_argument("--none", action="store_true", help="leave it unassigned")
    assign.set_defaults(handler=run_assign)


def add_staff_parsers(actions: Any, add_config_option: Any) -> None:
    away = actions.add_parser(
        "away", help="mark a staff member away (round robin skips them; the rest are told)"
    )
    add_config_option(away)
    away.add_argument("email")
    away.add_argument("--until", metavar="DATE", help="the last day away (YYYY-MM-DD)")
    away.add_argument("--clear", action="store_true", help="back at the desk")
    away.set_defaults(handler=run_away)


def run_assign(args: argparse.Namespace) -> int:
    from intake import db
    from intake.desk import AssignError, assign, assignable
    from intake.models import Incident

    if bool(args.staff) == bool(args.none):
        raise CliError("give a staff email or --none (not both)")
    config = config_from(args)
    with db.session_factory(engine_from(config)).begin() as session:
        incident = session.get(Incident, args.number)
        if incident is None:
            raise CliError(f"no incident #{args.number}")
        email = None
        if args.staff:
            try:
                email = assignable(session, incident, args.staff).email
            except AssignError as exc:
                raise CliError(str(exc)) from None
        assign(session, incident, email, by="cli", now=datetime.now(UTC))
    echo(f"incident #{args.number} " + (f"assigned to {email}" if email else "unassigned"))
    return 0


def run_away(args: argparse.Namespace) -> int:
    from intake import db
    from intake.audit import audit
    from intake.desk import find_member

    if bool(args.until) == bool(args.clear):
        raise CliError("give --until DATE or --clear (not both)")
    until = None
    if args.until:
        try:
            until = date.fromisoformat(args.until)
        except ValueError:
            raise CliError(f"{args.until!r} is not a date (YYYY-MM-DD, e.g. 2026-12-28)") from None
    with db.session_factory(engine_from(config_from(args))).begin() as session:
        member = find_member(session, args.email)
        if member is None:
            raise CliError(f"no staff {args.email.strip().lower()} (uketsuke staff add NAME EMAIL)")
        member.away_until = until
        detail = {"until": until.isoformat() if until else None}
        audit(session, "staff_away", actor="cli", target=f"staff:{member.email}", detail=detail)
        email = member.email
    echo(f"staff {email} away until {until}" if until else f"staff {email} back")
    return 0
