"""Staff commands: staff add/list/remove/passwd, the accounts that may answer by mail (R20, R21)
and log in to the dashboard (R26).

An account names the profiles it works for (none: every profile). Its ``reply_secret`` is made
here and never printed: it keys the staff's reply tokens.
"""

from __future__ import annotations

import argparse
import secrets
from typing import TYPE_CHECKING, Any

from intake.cli import deskcmds
from intake.cli.common import (
    CliError,
    add_config_option,
    config_from,
    echo,
    engine_from,
    print_json,
)
from intake.text import EMAIL_ADDRESS
from scheduler.calendar import format_instant

if TYPE_CHECKING:
    from intake.config import Config
    from intake.models import StaffUser

# Handlers import what they use in their bodies (start-up rule in intake.cli.common).

MAX_ADDRESS = 320  # RFC 5321: 64 + @ + 255; the column's width
MIN_PASSWORD = 10  # characters (R26: the dashboard's login)


def register(commands: Any) -> None:
    staff = commands.add_parser("staff", help="staff accounts that may answer by mail")
    actions = staff.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add", help="add a staff account")
    add_config_option(add)
    add.add_argument("name", help="the staff member's name")
    add.add_argument("email", help="the address staff mail comes from")
    add.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="P",
        help="a profile the account works for (repeat; none: every profile)",
    )
    from intake.cli.staffroles import add_role_options, register_set

    add_role_options(add)
    add.set_defaults(handler=run_add)
    listing = actions.add_parser("list", help="staff accounts, oldest first")
    add_config_option(listing)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)
    remove = actions.add_parser("remove", help="delete a staff account")
    add_config_option(remove)
    remove.add_argument("email")
    remove.set_defaults(handler=run_remove)
    passwd = actions.add_parser(
        "passwd", help="set the dashboard password (twice from the terminal, or once from stdin)"
    )
    add_config_option(passwd)
    passwd.add_argument("email")
    passwd.set_defaults(handler=run_passwd)
    register_set(actions)  # staff set EMAIL --approver …
    deskcmds.add_staff_parsers(actions, add_config_option)  # staff away EMAIL --until DATE


def normalize_email(text: str) -> str:
    """The address as stored: trimmed, lower-case; anything that is not one address is refused."""
    email = text.strip().lower()
    if len(email) > MAX_ADDRESS or not EMAIL_ADDRESS.fullmatch(email):
        raise CliError(f"{text!r} is not an email address (e.g. yamada@example.jp)")
    return email


def checked_profiles(config: Config, names: list[str]) -> list[str]:
    """The profiles named, each once in the order given; an unknown one is refused."""
    known = sorted(config.profiles)
    chosen: list[str] = []
    for name in names:
        if name not in config.profiles:
            raise CliError(f"unknown profile {name!r} (known: {', '.join(known)})")
        if name not in chosen:
            chosen.append(name)
    return chosen


def staff_json(user: StaffUser) -> dict[str, Any]:
    """The documented JSON of an account (README); never its reply secret."""
    return {
        "email": user.email,
        "name": user.name,
        "profiles": list(user.profiles or []),
        "active": user.active,
        "created_at": format_instant(user.created_at),
        "approver": bool(user.approver),
        "needs_approval": bool(user.needs_approval),
        "away_until": user.away_until.isoformat() if user.away_until else None,
    }


def run_add(args: argparse.Namespace) -> int:
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    from intake import db
    from intake.audit import audit
    from intake.models import StaffUser

    config = config_from(args)
    name = " ".join(args.name.split())
    if not name:
        raise CliError("the name is empty")
    email = normalize_email(args.email)
    profiles = checked_profiles(config, args.profile)
    sessions = db.session_factory(engine_from(config))
    try:
        with sessions.begin() as session:
            if session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is not None:
                raise CliError(f"staff {email} exists")
            session.add(
                StaffUser(
                    email=email,
                    name=name,
                    profiles=profiles,
                    reply_secret=secrets.token_hex(32),
                    active=True,
                    approver=args.approver,
                    needs_approval=args.needs_approval,
                )
            )
            audit(session, "staff_add", actor="cli", target=f"staff:{email}")
    except IntegrityError:  # added at the same moment by another run
        raise CliError(f"staff {email} exists") from None
    echo(f"staff {email} added ({_profiles_text(profiles)})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from intake import db
    from intake.models import StaffUser

    with db.session_factory(engine_from(config_from(args)))() as session:
        rows = [staff_json(u) for u in session.scalars(select(StaffUser).order_by(StaffUser.id))]
    if args.json:
        for row in rows:
            print_json(row)
        return 0
    for row in rows:
        state = "active" if row["active"] else "inactive"
        roles = [r.replace("_", " ") for r in ("approver", "needs_approval") if row[r]]
        echo(
            f"{row['email']} {row['name']} ({_profiles_text(row['profiles'])}) {state}"
            f" since {row['created_at']}"
            + (f" away until {row['away_until']}" if row["away_until"] else "")
            + "".join(f", {r}" for r in roles)
        )
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from sqlalchemy import delete

    from intake import db
    from intake.audit import audit
    from intake.models import StaffUser

    email = args.email.strip().lower()
    with db.session_factory(engine_from(config_from(args))).begin() as session:
        removed = session.execute(delete(StaffUser).where(StaffUser.email == email)).rowcount
        if removed:
            audit(session, "staff_remove", actor="cli", target=f"staff:{email}")
    if not removed:
        raise CliError(f"no staff {email}")
    echo(f"staff {email} removed")
    return 0


def read_password() -> str:
    """The new password: typed twice without echo at a terminal, or the first line of stdin
    when it is not one (scripts: ``printf '%s\\n' "$PW" | uketsuke staff passwd EMAIL``)."""
    import getpass
    import sys

    if sys.stdin.isatty():
        first = getpass.getpass("new password: ")
        if getpass.getpass("again: ") != first:
            raise CliError("the passwords do not match; nothing changed")
        password = first
    else:
        try:
            password = sys.stdin.buffer.readline().decode("utf-8")
        except UnicodeDecodeError:
            raise CliError("the password on stdin is not UTF-8 text; nothing changed") from None
        password = password.removesuffix("\n").removesuffix("\r")
    if len(password) < MIN_PASSWORD:
        raise CliError(f"the password needs at least {MIN_PASSWORD} characters; nothing changed")
    return password


def run_passwd(args: argparse.Namespace) -> int:
    """R26: the dashboard's password, stored as a werkzeug scrypt hash (never the password);
    setting it ends the account's open dashboard sessions. Audited as ``staff_passwd``."""
    from sqlalchemy import select
    from werkzeug.security import generate_password_hash

    from intake import db
    from intake.audit import audit
    from intake.models import StaffUser

    email = args.email.strip().lower()
    sessions = db.session_factory(engine_from(config_from(args)))
    with sessions() as session:
        if session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is None:
            raise CliError(f"no staff {email} (uketsuke staff add NAME EMAIL)")
    hashed = generate_password_hash(read_password(), method="scrypt")
    with sessions.begin() as session:
        user = session.scalars(select(StaffUser).where(StaffUser.email == email)).one_or_none()
        if user is None:  # removed while the password was typed
            raise CliError(f"no staff {email} (uketsuke staff add NAME EMAIL)")
        user.password_hash = hashed
        user.session_generation = (user.session_generation or 0) + 1  # ends its sessions (R26)
        audit(session, "staff_passwd", actor="cli", target=f"staff:{email}")
    echo(f"password set for {email}")
    return 0


def _profiles_text(profiles: list[str]) -> str:
    return "profiles: " + (", ".join(profiles) if profiles else "all")
