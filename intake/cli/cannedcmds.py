"""``uketsuke canned add/list/remove``: canned answers (定型文) staff put into answers with
``#canned NAME`` (``intake.canned``).

A canned answer is for one profile (``--profile P``) or every profile; one of a profile shadows
an every-profile one of the same name. Its text may use only the placeholders of
``intake.canned.PLACEHOLDERS``: any other is refused when it is added (exit 1).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from intake.cli.common import (
    CliError,
    add_config_option,
    config_from,
    echo,
    engine_from,
    print_json,
)
from scheduler.calendar import format_instant

if TYPE_CHECKING:
    from intake.models import CannedAnswer

# Handlers import what they use in their bodies (start-up rule in intake.cli.common).


def register(commands: Any) -> None:
    canned = commands.add_parser("canned", help="canned answers (定型文) for #canned NAME")
    actions = canned.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add", help="add a canned answer from a UTF-8 text file")
    add_config_option(add)
    add.add_argument("name")
    add.add_argument("--file", required=True, metavar="F", help="the text (UTF-8; - for stdin)")
    add.add_argument("--profile", metavar="P", help="for this profile only (default: every one)")
    add.set_defaults(handler=run_add)
    listing = actions.add_parser("list", help="canned answers by name")
    add_config_option(listing)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)
    remove = actions.add_parser("remove", help="delete a canned answer")
    add_config_option(remove)
    remove.add_argument("name")
    remove.add_argument("--profile", metavar="P", help="the one of this profile")
    remove.set_defaults(handler=run_remove)


def canned_json(row: CannedAnswer) -> dict[str, Any]:
    """The documented JSON of a canned answer (README)."""
    from intake.canned import placeholders_in

    return {
        "name": row.name,
        "profile": row.profile,
        "body": row.body,
        "placeholders": placeholders_in(row.body),
        "created_at": format_instant(row.created_at),
    }


def _where(name: str, profile: str | None) -> str:
    return f"{name!r} ({'profile ' + profile if profile else 'every profile'})"


def run_add(args: argparse.Namespace) -> int:
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    from intake import db
    from intake.audit import audit
    from intake.canned import MAX_NAME, PLACEHOLDERS, canned_name, unknown_placeholders
    from intake.cli.answercmds import _read_answer
    from intake.models import CannedAnswer

    config = config_from(args)
    name = canned_name(args.name)
    if not name or len(name) > MAX_NAME:
        raise CliError(f"the name must be 1 to {MAX_NAME} characters")
    if args.profile is not None and args.profile not in config.profiles:
        raise CliError(f"unknown profile {args.profile!r} (known: {', '.join(config.profiles)})")
    body = _read_answer(args.file).replace("\r\n", "\n").strip("\n")
    if not body.strip():
        raise CliError(f"{args.file} is empty")
    unknown = unknown_placeholders(body)
    if unknown:
        known = " ".join(f"{{{p}}}" for p in PLACEHOLDERS)
        print(
            f"uketsuke: unknown placeholder {', '.join(f'{{{u}}}' for u in unknown)}"
            f" (known: {known}); nothing added",
            file=sys.stderr,
        )
        return 1
    exists = f"canned answer {_where(name, args.profile)} exists (canned remove it first)"
    sessions = db.session_factory(engine_from(config))
    try:
        with sessions.begin() as session:
            same = select(CannedAnswer.id).where(
                CannedAnswer.name == name, _profile_is(CannedAnswer, args.profile)
            )
            if session.scalar(same) is not None:
                raise CliError(exists)
            session.add(CannedAnswer(name=name, profile=args.profile, body=body))
            audit(session, "canned_add", actor="cli", target=f"canned:{name}")
    except IntegrityError:  # added at the same moment by another run
        raise CliError(exists) from None
    echo(f"canned answer {_where(name, args.profile)} added")
    return 0


def _profile_is(model: Any, profile: str | None) -> Any:
    return model.profile.is_(None) if profile is None else model.profile == profile


def run_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from intake import db
    from intake.models import CannedAnswer

    with db.session_factory(engine_from(config_from(args)))() as session:
        query = select(CannedAnswer).order_by(  # every-profile first, on any database
            CannedAnswer.name, CannedAnswer.profile.is_not(None), CannedAnswer.profile
        )
        rows = [canned_json(row) for row in session.scalars(query)]
    for row in rows:
        if args.json:
            print_json(row)
            continue
        first = row["body"].splitlines()[0] if row["body"] else ""
        places = " ".join(f"{{{p}}}" for p in row["placeholders"]) or "-"
        echo(f"{row['name']} ({row['profile'] or 'every profile'}) {places}: {first}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    """Without ``--profile``: the every-profile one of that name, or the only one there is."""
    from sqlalchemy import select

    from intake import db
    from intake.audit import audit
    from intake.canned import canned_name
    from intake.models import CannedAnswer

    name = canned_name(args.name)
    with db.session_factory(engine_from(config_from(args))).begin() as session:
        rows = session.scalars(select(CannedAnswer).where(CannedAnswer.name == name)).all()
        chosen = [r for r in rows if r.profile == args.profile]
        if args.profile is None and not chosen and len(rows) > 1:
            profiles = ", ".join(sorted(str(r.profile) for r in rows))
            raise CliError(f"{name!r} is a canned answer of {profiles}: add --profile P")
        if args.profile is None and not chosen:
            chosen = list(rows)
        if not chosen:
            raise CliError(f"no canned answer {_where(name, args.profile)}")
        [row] = chosen
        session.delete(row)
        audit(session, "canned_remove", actor="cli", target=f"canned:{name}")
        removed = _where(name, row.profile)
    echo(f"canned answer {removed} removed")
    return 0
