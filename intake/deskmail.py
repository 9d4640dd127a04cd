"""The desk's mail commands (docs/staff.md, "送信保留と上長承認"): ``#cancel`` takes back the
sender's answers still held, ``#approve`` sends the answers awaiting approval, ``#return 理由``
sends them back to their authors. Written on the first line of a reply to a staff notification
or an ``approval_request`` (the staff member's token names the incident); called from the staff
step (``intake.steps.staff``) before the answer commands are read.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from intake.answerhold import NotCancellable, author_of, cancel, unsent_answers
from intake.approval import NotApprovable, approve, send_back
from intake.config import Config
from intake.models import Incident, StaffUser
from intake.staffcommands import strip_notification
from intake.states import OutboxKind, OutboxState

COMMANDS = ("cancel", "approve", "return")

TOO_LATE = "取り消せる回答はありません（回答はすでにお客様へ送信されています）。"
NOT_APPROVER = "あなたは承認者ではないため、承認・差し戻しはできません。"
NOTHING_WAITING = "承認待ちの回答はありません（すでに承認・差し戻し・取り消し済みです）。"


@dataclass
class DeskResult:
    done: str  # for the log: what was done
    error: str | None = None  # Japanese, for the staff member: nothing was done


def desk_command(body: str, marker: str) -> tuple[str, str] | None:
    """(command, argument) when the answer's first line is one of :data:`COMMANDS`; the
    argument of ``#return`` is the rest of its line and the lines below it (the reason)."""
    lines = strip_notification(body, marker).splitlines()
    for index, raw in enumerate(lines):
        line = unicodedata.normalize("NFKC", raw).strip()
        if not line:
            continue
        name, _, argument = line.partition(" ")
        if not name.startswith("#") or name[1:].lower() not in COMMANDS:
            return None
        rest = "\n".join([argument, *lines[index + 1 :]]).strip()
        return name[1:].lower(), rest
    return None


def run_desk_command(
    session: Session,
    config: Config,
    incident: Incident,
    member: StaffUser,
    command: tuple[str, str],
    now: datetime,
) -> DeskResult:
    name, argument = command
    if name == "cancel":
        return _cancel(session, incident, member, now)
    if not member.approver:
        return DeskResult(f"#{name} refused: not an approver", NOT_APPROVER)
    waiting = unsent_answers(session, incident.id, (OutboxState.AWAITING_APPROVAL,))
    if not waiting:
        return DeskResult(f"#{name}: nothing awaits approval", NOTHING_WAITING)
    try:
        for row in waiting:
            if name == "approve":
                approve(session, config, row.id, member, now)
            else:
                send_back(session, config, row.id, member, argument, now)
    except NotApprovable as exc:
        return DeskResult(f"#{name} refused: {exc}", NOT_APPROVER)
    verb = "approved" if name == "approve" else "returned"
    return DeskResult(f"{verb} {len(waiting)} answer(s)")


def _cancel(session: Session, incident: Incident, member: StaffUser, now: datetime) -> DeskResult:
    mine = [
        row
        for row in unsent_answers(session, incident.id)
        if author_of(row).lower() == member.email.lower() and row.kind == OutboxKind.ANSWER
    ]
    if not mine:
        return DeskResult("#cancel: no answer left to cancel", TOO_LATE)
    try:
        for row in mine:
            cancel(session, row.id, now, by=member.email)
    except NotCancellable:
        return DeskResult("#cancel: sent meanwhile", TOO_LATE)
    return DeskResult(f"cancelled {len(mine)} answer(s)")
