"""Queue commands: timers list, outbox list/hold/release — what is scheduled, and staff control
of it (R15, R16, R26).

Every timer and every mail to send is a row with a due time (R16: a durable schedule), so the
lists read the database only. License-key mails are outbox rows (kind ``license_key``, R14–R16);
``timers list`` shows them beside the ``timed_actions`` rows as ``license_mail`` timers, because
to staff they are one schedule. ``outbox hold`` keeps a pending mail from being sent (the
dispatcher sends only ``pending`` rows) until ``outbox release``; both are audited (R26).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING, Any

from intake.cli.common import (
    CliError,
    add_config_option,
    config_from,
    echo,
    engine_from,
    print_json,
)
from intake.states import OutboxKind, OutboxState
from scheduler.calendar import format_instant

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from intake.models import OutboxMail, TimedAction

# Handlers import what they use in their bodies (start-up rule in intake.cli.common).

TIMER_STATES = ("pending", "done", "cancelled", "failed")
OUTBOX_STATES = tuple(state.value for state in OutboxState)  # plain: argparse shows them
LICENSE_KIND = OutboxKind.LICENSE_KEY  # the outbox kind of a license-key mail (R14)
LICENSE_TIMER = "license_mail"  # ... and its kind among the timers
# An outbox row's state as a timer's: held is still to be done (and says so in "held").
TIMER_STATE_OF_OUTBOX = {
    OutboxState.PENDING: "pending",
    OutboxState.HELD: "pending",
    OutboxState.SENT: "done",
    OutboxState.FAILED: "failed",
}
HEAD_BYTES = 16384  # read of a stored mail for its Subject: our composed heads are far smaller


def register(commands: Any) -> None:
    timers = commands.add_parser("timers", help="scheduled work: auto-close, expiry, key mails")
    timer_actions = timers.add_subparsers(dest="action", metavar="ACTION")
    timer_actions.required = True
    timer_list = timer_actions.add_parser("list", help="timers by due time (R16)")
    add_config_option(timer_list)
    timer_list.add_argument("--state", choices=TIMER_STATES)
    timer_list.add_argument("--kind", metavar="K", help=f"e.g. auto_close, {LICENSE_TIMER}")
    timer_list.add_argument("--json", action="store_true")
    timer_list.set_defaults(handler=run_timers_list)

    outbox = commands.add_parser("outbox", help="mail to send: list, hold, release, cancel")
    actions = outbox.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", help="outbox mail, oldest first")
    add_config_option(listing)
    listing.add_argument("--state", choices=OUTBOX_STATES)
    listing.add_argument("--kind", metavar="K", help=f"e.g. ack, {LICENSE_KIND}")
    listing.add_argument("--incident", type=int, metavar="N", help="incident number")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_outbox_list)
    hold = actions.add_parser("hold", help="keep a pending mail from being sent")
    add_config_option(hold)
    hold.add_argument("id", type=int, help="outbox id (from outbox list)")
    hold.set_defaults(handler=run_hold)
    release = actions.add_parser("release", help="let a held mail be sent when due")
    add_config_option(release)
    release.add_argument("id", type=int, help="outbox id (from outbox list)")
    release.set_defaults(handler=run_release)
    from intake.cli.holdcmds import register_cancel

    register_cancel(actions)  # outbox cancel: a staff answer within its hold


def _read_sessions(args: argparse.Namespace) -> sessionmaker[Session]:
    """Look-up sessions: on SQLite a listing takes no write lock from the running daemon."""
    from intake import db

    return db.read_sessions(db.session_factory(engine_from(config_from(args))))


def timer_json(action: TimedAction) -> dict[str, Any]:
    """The documented JSON of a timer (README); ``held`` is only ever true for a key mail."""
    return {
        "id": action.id,
        "kind": action.kind,
        "incident": action.incident_id,
        "inquiry": action.inquiry_id,
        "due_at": format_instant(action.due_at),
        "state": action.state,
        "held": False,
        "done_at": format_instant(action.done_at) if action.done_at else None,
    }


def license_timer_json(mail: OutboxMail) -> dict[str, Any]:
    """A license-key mail as a timer (R16): due when the mail is, done when it is sent."""
    return {
        "id": f"outbox:{mail.id}",
        "kind": LICENSE_TIMER,
        "incident": mail.incident_id,
        "inquiry": None,
        "due_at": format_instant(mail.due_at),
        "state": TIMER_STATE_OF_OUTBOX[mail.state],
        "held": mail.state == OutboxState.HELD,
        "done_at": format_instant(mail.sent_at) if mail.sent_at else None,
    }


def run_timers_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select
    from sqlalchemy.orm import load_only

    from intake.models import OutboxMail, TimedAction

    timed = select(TimedAction)  # sorted below, with the key mails
    if args.state:
        timed = timed.where(TimedAction.state == args.state)
    if args.kind:
        timed = timed.where(TimedAction.kind == args.kind)
    mail_states = [s for s, timer in TIMER_STATE_OF_OUTBOX.items() if args.state in (None, timer)]
    with _read_sessions(args)() as session:
        rows = [(a.due_at, 0, a.id, timer_json(a)) for a in session.scalars(timed)]
        if args.kind in (None, LICENSE_TIMER) and mail_states:
            mails = session.scalars(
                select(OutboxMail)
                .options(
                    load_only(
                        OutboxMail.id,
                        OutboxMail.incident_id,
                        OutboxMail.due_at,
                        OutboxMail.state,
                        OutboxMail.sent_at,
                    )
                )
                .where(OutboxMail.kind == LICENSE_KIND, OutboxMail.state.in_(mail_states))
            )
            rows += [(m.due_at, 1, m.id, license_timer_json(m)) for m in mails]
    timers = [row for *_, row in sorted(rows, key=lambda r: r[:3])]
    if args.json:
        for timer in timers:
            print_json(timer)
        return 0
    for timer in timers:
        echo(" ".join(_timer_words(timer)))
    return 0


def _timer_words(timer: dict[str, Any]) -> list[str]:
    """``DUE KIND #INCIDENT STATE``, then ``(held)``, and a key mail's ``outbox:ID`` (the handle
    ``outbox hold``/``release`` take)."""
    if timer["incident"] is not None:
        target = f"#{timer['incident']}"
    elif timer["inquiry"] is not None:
        target = f"inquiry {timer['inquiry']}"
    else:
        target = "-"
    words = [timer["due_at"], timer["kind"], target, timer["state"]]
    if timer["held"]:
        words.append("(held)")
    if isinstance(timer["id"], str):
        words.append(timer["id"])
    return words


def run_outbox_list(args: argparse.Namespace) -> int:
    from sqlalchemy import LargeBinary, func, select

    from intake.mail.headers import mail_subject
    from intake.models import OutboxMail

    head = func.substr(OutboxMail.data, 1, HEAD_BYTES, type_=LargeBinary)
    query = select(
        OutboxMail.id,
        OutboxMail.kind,
        OutboxMail.profile,
        OutboxMail.recipients,
        head.label("head"),
        OutboxMail.incident_id,
        OutboxMail.due_at,
        OutboxMail.state,
        OutboxMail.sent_at,
        OutboxMail.late,
        OutboxMail.attempts,
        OutboxMail.last_error,
    ).order_by(OutboxMail.id)
    if args.state:
        query = query.where(OutboxMail.state == args.state)
    if args.kind:
        query = query.where(OutboxMail.kind == args.kind)
    if args.incident is not None:
        query = query.where(OutboxMail.incident_id == args.incident)
    with _read_sessions(args)() as session:
        mails = [
            {
                "id": row.id,
                "kind": row.kind,
                "profile": row.profile,
                "to": list(row.recipients or []),
                "subject": mail_subject(row.head),
                "incident": row.incident_id,
                "due_at": format_instant(row.due_at),
                "state": row.state,
                "sent_at": format_instant(row.sent_at) if row.sent_at else None,
                "late": row.late,
                "attempts": row.attempts,
                "last_error": row.last_error,
            }
            for row in session.execute(query)
        ]
    if args.json:
        for mail in mails:
            print_json(mail)
        return 0
    for mail in mails:
        incident = f"#{mail['incident']}" if mail["incident"] is not None else "-"
        late = " (late)" if mail["late"] else ""
        echo(
            f"{mail['id']} {mail['state']:<7} {mail['kind']:<12} {mail['due_at']} {incident} "
            f"{', '.join(mail['to']) or '-'} {mail['subject']}{late}"
        )
    return 0


def run_hold(args: argparse.Namespace) -> int:
    """R15/R16: staff stop a scheduled mail (a key mail that must not go yet); audited (R26)."""
    found, _due_at = _move(args, OutboxState.PENDING, OutboxState.HELD, "outbox_hold")
    if found == OutboxState.HELD:
        raise CliError(f"outbox {args.id} is already held")
    if found != OutboxState.PENDING:
        raise CliError(f"outbox {args.id} is {found}; only a pending mail can be held")
    echo(f"outbox {args.id} held")
    return 0


def run_release(args: argparse.Namespace) -> int:
    """The held mail goes out when due: on the dispatcher's next tick if that has passed."""
    found, due_at = _move(args, OutboxState.HELD, OutboxState.PENDING, "outbox_release")
    if found != OutboxState.HELD:
        raise CliError(f"outbox {args.id} is {found}; only a held mail can be released")
    echo(f"outbox {args.id} released (due {format_instant(due_at)})")
    return 0


def _move(args: argparse.Namespace, source: str, target: str, action: str) -> tuple[str, datetime]:
    """The state the mail ``args.id`` was found in, and its due time; a mail found in ``source``
    is moved to ``target`` with its audit row in the same transaction (R26). The row is locked
    first (PostgreSQL), so a mail the dispatcher is sending is found sent, never held after it
    went out."""
    from sqlalchemy import select
    from sqlalchemy.orm import load_only

    from intake import db
    from intake.audit import audit
    from intake.models import OutboxMail

    sessions = db.session_factory(engine_from(config_from(args)))
    with sessions.begin() as session:
        mail = session.scalars(
            select(OutboxMail)
            .options(load_only(OutboxMail.id, OutboxMail.state, OutboxMail.due_at))
            .where(OutboxMail.id == args.id)
            .with_for_update()
        ).one_or_none()
        if mail is None:
            raise CliError(f"no outbox mail {args.id}")
        found = mail.state
        if found == source:
            mail.state = target
            audit(session, action, actor="cli", target=f"outbox:{mail.id}")
        return found, mail.due_at
