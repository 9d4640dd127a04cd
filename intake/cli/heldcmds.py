"""``uketsuke held discard`` and the text lines of ``held list``: held mail staff look at.

Discarding throws away held spam (``intake.heldinquiries.discard``): the inquiry leaves ``held
list`` and its expiry timer is cancelled; nothing is sent; the raw mail stays stored; audited.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from intake.cli.common import CliError, config_from, engine_from
from intake.fieldnames import FIELD_LABELS


def add_parsers(actions: argparse._SubParsersAction, add_config_option) -> None:  # noqa: ANN001
    discard = actions.add_parser(
        "discard", help="throw away a held inquiry (spam); nothing is sent, the mail is kept"
    )
    add_config_option(discard)
    discard.add_argument("id", type=int, help="held inquiry id (from held list)")
    discard.add_argument(
        "--raw", action="store_true", help="ID is a held or unprocessable raw message"
    )
    discard.add_argument("--by", metavar="STAFF_EMAIL", help="the staff member discarding it")
    discard.set_defaults(handler=run_discard)


def held_line(row: dict) -> str:
    """``inquiry 1 smtp missing_fields 不足: ドメイン名、顧客番号 期限: 2026-12-08T10:30:00+09:00``;
    a raw message: ``raw 3 smtp REASON``."""
    line = f"{row['kind']} {row['id']} {row.get('channel')} {row.get('reason') or ''}".rstrip()
    if row["kind"] != "inquiry":
        return line
    missing = "、".join(FIELD_LABELS.get(name, name) for name in row["missing"]) or "なし"
    return f"{line} 不足: {missing} 期限: {row['expires_at'] or 'なし（スタッフの入力待ち）'}"


def run_discard(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from intake import db
    from intake.heldinquiries import CannotDiscard, discard
    from intake.models import StaffUser

    config = config_from(args)
    kind = "raw" if args.raw else "inquiry"
    with db.session_factory(engine_from(config)).begin() as session:
        by = "cli"
        if args.by:
            staff = session.scalar(select(StaffUser).where(StaffUser.email == args.by.lower()))
            if staff is None or not staff.active:
                raise CliError(f"no active staff account {args.by}")
            by = staff.email
        try:
            discard(session, kind, args.id, by, datetime.now(UTC))
        except CannotDiscard as exc:
            raise CliError(str(exc)) from None
    print(f"{kind} {args.id} discarded")
    return 0
