"""``uketsuke held list|complete|discard`` and ``uketsuke reprocess``: held mail staff look at
(README documents the JSON).

Discarding throws away held spam (``intake.heldinquiries.discard``): the inquiry leaves ``held
list`` and its expiry timer is cancelled; nothing is sent; the raw mail stays stored; audited.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from intake.cli.common import (
    CliError,
    add_config_option,
    config_from,
    echo,
    engine_from,
    print_json,
)
from intake.fieldnames import FIELD_LABELS
from scheduler.calendar import format_instant


def register(commands: Any) -> None:
    held = commands.add_parser("held", help="held inquiries and unprocessable mail")
    held_actions = held.add_subparsers(dest="action", metavar="ACTION")
    held_actions.required = True
    held_list = held_actions.add_parser("list", help="what waits for staff or the customer")
    add_config_option(held_list)
    held_list.add_argument("--json", action="store_true")
    held_list.set_defaults(handler=run_held_list)

    complete = held_actions.add_parser(
        "complete", help="key in the fields of a held inquiry (a fax OCR could not read, R11)"
    )
    add_config_option(complete)
    complete.add_argument("id", type=int, help="held inquiry id (from held list)")
    complete.add_argument("--company")
    complete.add_argument("--name")
    complete.add_argument("--domain")
    complete.add_argument("--customer", metavar="NUMBER")
    complete.add_argument("--text", help="the inquiry, when OCR could not read it")
    complete.set_defaults(handler=run_held_complete)
    add_parsers(held_actions, add_config_option)

    again = commands.add_parser("reprocess", help="run held raw messages through intake again")
    add_config_option(again)
    again.add_argument("id", nargs="?", type=int, help="raw message id")
    again.add_argument("--held", action="store_true", help="every unprocessable or held message")
    again.set_defaults(handler=run_reprocess)


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


def _sessions(args: argparse.Namespace):  # noqa: ANN202
    from intake import db

    return db.session_factory(engine_from(config_from(args)))


def run_held_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from intake.models import Inquiry, RawMessage, RawState

    with _sessions(args)() as session:
        inquiries = [
            {
                "kind": "inquiry",
                "id": i.id,
                "raw_message_id": i.raw_message_id,
                "profile": i.profile,
                "channel": i.channel,
                "reason": i.reason,
                "missing": list(i.missing),
                "created_at": format_instant(i.created_at),
                "expires_at": format_instant(i.expires_at) if i.expires_at else None,
            }
            for i in session.scalars(select(Inquiry).where(Inquiry.state == "held"))
        ]
        raws = [
            {
                "kind": "raw",
                "id": r.id,
                "channel": r.channel,
                "profile": r.profile,
                "state": r.state,
                "reason": r.last_error,
                "received_at": format_instant(r.received_at),
            }
            for r in session.scalars(
                select(RawMessage)
                .where(RawMessage.state.in_([RawState.UNPROCESSABLE, RawState.HELD]))
                .order_by(RawMessage.id)
            )
            if not any(i["raw_message_id"] == r.id for i in inquiries)
        ]
    rows = inquiries + raws
    if args.json:
        for row in rows:
            print_json(row)
        return 0
    for row in rows:
        echo(held_line(row))
    return 0


def run_held_complete(args: argparse.Namespace) -> int:
    from intake import db
    from intake.mail.fields import normalize_customer_number, normalize_domain, normalize_text
    from intake.pipeline import Pipeline
    from intake.processor import fax_reader

    config = config_from(args)
    fields = {
        "company": normalize_text(args.company) if args.company else None,
        "name": normalize_text(args.name) if args.name else None,
        "domain": normalize_domain(args.domain) if args.domain else None,
        "customer_number": normalize_customer_number(args.customer) if args.customer else None,
    }
    # As the daemon would: without --text, a fax is read again by OCR (R11).
    sessions = db.session_factory(engine_from(config))
    pipeline = Pipeline(config, sessions, read_fax=fax_reader(config))
    try:
        numbers = pipeline.transcribe(
            args.id, {k: v for k, v in fields.items() if v}, args.text, datetime.now(UTC)
        )
    except LookupError as exc:
        raise CliError(str(exc)) from None
    echo("incidents " + ", ".join(f"#{n}" for n in numbers) + " created")
    return 0


def run_reprocess(args: argparse.Namespace) -> int:
    """R29: the same steps as the daemon, the fax reader included; exit 1 when any message is
    still unprocessable."""
    from sqlalchemy import select

    from intake import db
    from intake.models import Inquiry, RawMessage, RawState
    from intake.pipeline import Pipeline
    from intake.processor import fax_reader

    if (args.id is None) == (not args.held):
        raise CliError("give a raw message id or --held")
    config = config_from(args)
    sessions = db.session_factory(engine_from(config))
    pipeline = Pipeline(config, sessions, read_fax=fax_reader(config))
    with sessions() as session:
        # Held inquiries wait for the customer's answer; only messages staff must look at rerun.
        rerunnable = select(RawMessage.id).where(
            RawMessage.state.in_([RawState.UNPROCESSABLE, RawState.HELD, RawState.RECEIVED]),
            ~RawMessage.id.in_(
                select(Inquiry.raw_message_id).where(
                    Inquiry.raw_message_id.is_not(None), Inquiry.state == "held"
                )
            ),
        )
        if args.id is not None:
            if session.get(RawMessage, args.id) is None:
                raise CliError(f"no raw message {args.id}")
            if session.scalar(rerunnable.where(RawMessage.id == args.id)) is None:
                raise CliError(f"raw message {args.id} was processed; nothing to do")
            ids = [args.id]
        else:
            ids = list(session.scalars(rerunnable.order_by(RawMessage.id)))
    failed = 0
    for raw_id in ids:
        state = pipeline.process(raw_id, datetime.now(UTC), again=True)
        failed += state == RawState.UNPROCESSABLE
        echo(f"raw {raw_id}: {state}")
    if failed:
        print(f"uketsuke: {failed} of {len(ids)} still unprocessable", file=sys.stderr)
        return 1
    return 0
