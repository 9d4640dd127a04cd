"""``uketsuke incidents reply`` and ``incidents close``: staff act from the command line.

The same code as a mailed staff answer (``intake.answers``): the answer is relayed by email only
(R10, R20), the commands on its first lines work the same way, the auto-close clock starts
(R18), and every action is audited (R26).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from intake.cli.common import CliError, config_from, engine_from

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from intake.models import Incident, StaffUser
    from intake.staffcommands import StaffAnswer

MAX_ANSWER_BYTES = 1024 * 1024


def add_parsers(actions: argparse._SubParsersAction, add_config_option) -> None:  # noqa: ANN001
    reply = actions.add_parser("reply", help="answer an incident by email as a staff member")
    add_config_option(reply)
    reply.add_argument("number", type=int)
    reply.add_argument("--from", dest="staff", required=True, metavar="STAFF_EMAIL")
    reply.add_argument(
        "--file", required=True, metavar="ANSWER.txt", help="the answer (UTF-8; - for stdin)"
    )
    reply.add_argument(
        "--force",
        action="store_true",
        help="send even though someone else answered since the customer's latest message",
    )
    reply.set_defaults(handler=run_reply)
    close = actions.add_parser("close", help="close an incident; the customer is told (R17)")
    add_config_option(close)
    close.add_argument("number", type=int)
    close.add_argument("--by", metavar="STAFF_EMAIL", help="the staff member closing it")
    close.set_defaults(handler=run_close)


def _read_answer(path: str) -> str:
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_ANSWER_BYTES:
        raise CliError(f"{path} is over {MAX_ANSWER_BYTES} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CliError(f"{path} is not UTF-8 text") from None


def _staff(session, email: str):  # noqa: ANN001, ANN202
    from sqlalchemy import func, select

    from intake.models import StaffUser

    member = session.scalars(
        select(StaffUser).where(func.lower(StaffUser.email) == email.strip().lower())
    ).one_or_none()
    if member is None or not member.active:
        raise CliError(f"no active staff account {email} (uketsuke staff add NAME EMAIL)")
    return member


def _incident(session, number: int):  # noqa: ANN001, ANN202
    from intake.models import Incident

    incident = session.get(Incident, number)
    if incident is None:
        raise CliError(f"no incident #{number}")
    return incident


def run_reply(args: argparse.Namespace) -> int:
    from intake import db
    from intake.answers import act
    from intake.staffcommands import CommandError, parse_answer

    config = config_from(args)
    text = _read_answer(args.file)
    now = datetime.now(UTC)
    with db.session_factory(engine_from(config)).begin() as session:
        incident = _incident(session, args.number)
        member = _staff(session, args.staff)
        if member.profiles and incident.profile not in member.profiles:
            raise CliError(f"{member.email} does not work for profile {incident.profile}")
        try:
            answer = parse_answer(text)
        except CommandError as exc:
            raise CliError(f"nothing sent: {exc}") from None
        if not (args.force or answer.force):
            _refuse_a_second_answer(session, incident, member, answer)
        try:
            done = act(session, config, incident, member, answer, now)
        except CommandError as exc:
            raise CliError(f"nothing sent: {exc}") from None
    print(f"incident #{args.number}: {', '.join(done)}")
    return 0


def _refuse_a_second_answer(
    session: Session, incident: Incident, member: StaffUser, answer: StaffAnswer
) -> None:
    """No double answers from the command line either (docs/staff.md, "担当と二重対応防止"):
    an answer is refused when someone else answered the incident after the customer's latest
    message; ``--force`` (or ``#force``) sends it anyway. Notes and splits are not answers. (An
    assignment alone does not refuse it here: a command line has no moment it was opened, and
    a round-robin assignment comes with the message itself.)"""
    from intake.collision import collision_since
    from scheduler.calendar import to_tokyo

    if not answer.answers_customer:
        return
    since = incident.last_customer_message_at or incident.created_at  # R18's clock
    found = collision_since(session, incident, member.email, since)
    if found is None or found.assigned:
        return
    at = to_tokyo(found.at).strftime("%Y-%m-%d %H:%M")
    raise CliError(
        f"nothing sent: {found.by} answered #{incident.id} at {at} (Japan time), after the "
        "customer's latest message; --force sends it anyway"
    )


def run_close(args: argparse.Namespace) -> int:
    from intake import db
    from intake.answers import close

    config = config_from(args)
    now = datetime.now(UTC)
    with db.session_factory(engine_from(config)).begin() as session:
        incident = _incident(session, args.number)
        by = _staff(session, args.by).email if args.by else "cli"
        if not close(session, config, incident, now, by=by):
            raise CliError(f"incident #{args.number} is closed already")
    print(f"incident #{args.number} closed")
    return 0
