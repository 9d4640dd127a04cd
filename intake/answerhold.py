"""A staff answer's hold before it is sent, and taking it back (docs/staff.md).

Every staff answer — by mail, on the dashboard, ``incidents reply`` — waits the profile's
``answer_hold_seconds`` as a pending ``answer`` row of the outbox. Its payload keeps its author
and the incident as it was before the answer, so that cancelling it (``outbox cancel``, 送信取消,
``#cancel``) puts the incident back: state, last answer time, one-click link, auto-close timer,
the assignment the answer made (``intake.desk``) and the answer due (``intake.targets``).
R18's auto-close clock starts when the answer is delivered (:class:`AnswerSent`, the
dispatcher's hook for answers), not when it is queued.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from intake.audit import audit
from intake.config import Config
from intake.models import Incident, IncidentMessage, OutboxMail, TimedAction
from intake.states import IncidentState, OutboxKind, OutboxState
from intake.targets import SLA_KIND

AUTHOR = "author"  # payload: the staff member who wrote the answer
PRIOR = "prior"  # payload: the incident before the answer
# payload: when the answer was first due (its hold over, or approved and its hold over): a relay
# failure's back-off moves due_at, and health/alarms and R16's late flag count from this
# (responder.outbox.first_due), not from when an answer awaiting approval was written.
FIRST_DUE = "due_at"
# An answer not sent yet: it can still be taken back.
CANCELLABLE = (OutboxState.PENDING, OutboxState.HELD, OutboxState.AWAITING_APPROVAL)
CANCELLED_MARK = "【送信取消】"  # the cancelled answer stays in the thread as a note


class NotCancellable(ValueError):
    """The outbox row is not a staff answer that can still be taken back (already sent …)."""


def cancel_auto_close(session: Session, incident: Incident, now: datetime) -> None:
    session.flush()  # a timer added in this transaction is cancelled too (no autoflush here)
    session.execute(
        update(TimedAction)
        .where(
            TimedAction.incident_id == incident.id,
            TimedAction.kind == "auto_close",
            TimedAction.state == "pending",
        )
        .values(state="cancelled", done_at=now)
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _pending_timers(session: Session, incident: Incident, kind: str) -> list[int]:
    return list(
        session.scalars(
            select(TimedAction.id).where(
                TimedAction.incident_id == incident.id,
                TimedAction.kind == kind,
                TimedAction.state == "pending",
            )
        )
    )


def before_answer(session: Session, incident: Incident) -> dict[str, Any]:
    """What an answer changes on the incident, as it is now (kept in the answer's row)."""
    session.flush()
    return {
        "state": incident.state,
        "last_staff_answer_at": _iso(incident.last_staff_answer_at),
        "closed_at": _iso(incident.closed_at),
        "close_nonce": incident.close_nonce,
        "auto_close": _pending_timers(session, incident, "auto_close"),
        "assignee": incident.assignee,  # the desk: an answer assigns an unassigned incident
        # Response targets (intake.targets): an answer clears what is due and its timer.
        "response_due": _iso(incident.response_due),
        "first_response_at": _iso(incident.first_response_at),
        "sla_due": _pending_timers(session, incident, SLA_KIND),
    }


def hold(
    session: Session,
    config: Config,
    incident: Incident,
    author: str,
    message_id: str,
    prior: dict[str, Any],
    now: datetime,
) -> OutboxMail:
    """The queued answer waits ``answer_hold_seconds`` before it is sent; returns its row."""
    row = session.scalars(select(OutboxMail).where(OutboxMail.message_id == message_id)).one()
    seconds = config.profile(incident.profile).answer_hold_seconds
    row.due_at = now + timedelta(seconds=seconds)
    row.payload = {AUTHOR: author, PRIOR: prior, FIRST_DUE: row.due_at.isoformat()}
    return row


def author_of(row: OutboxMail) -> str:
    return str((row.payload or {}).get(AUTHOR) or "")


def unsent_answers(
    session: Session,
    incident_id: int,
    states: tuple[str, ...] = CANCELLABLE,
    kind: str = OutboxKind.ANSWER,
) -> list[OutboxMail]:
    """The incident's staff answers (or mails of ``kind``) in ``states``, oldest first."""
    return list(
        session.scalars(
            select(OutboxMail)
            .where(
                OutboxMail.incident_id == incident_id,
                OutboxMail.kind == kind,
                OutboxMail.state.in_(states),
            )
            .order_by(OutboxMail.id)
        )
    )


def cancel(
    session: Session, row_id: int, now: datetime, *, by: str, action: str = "answer_cancelled"
) -> OutboxMail:
    """Take back a staff answer not sent yet: the row becomes ``cancelled`` and the incident is
    put back as it was before it. Raises :class:`NotCancellable` (one line) otherwise."""
    row = session.get(OutboxMail, row_id)
    if row is None:
        raise NotCancellable(f"no outbox mail {row_id}")
    if row.kind != OutboxKind.ANSWER:
        raise NotCancellable(f"outbox {row_id} is a {row.kind} mail; only a staff answer can be")
    if row.state not in CANCELLABLE:
        raise NotCancellable(f"outbox {row_id} is {row.state}; it can no longer be cancelled")
    # Conditional: a dispatcher that claimed the row first wins (PostgreSQL re-reads the row).
    done = session.execute(
        update(OutboxMail)
        .where(OutboxMail.id == row_id, OutboxMail.state.in_(CANCELLABLE))
        .values(state=OutboxState.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise NotCancellable(f"outbox {row_id} was sent meanwhile; it can no longer be cancelled")
    session.refresh(row)
    _restore(session, row, now, by)
    audit(
        session,
        action,
        actor=by,
        target=f"outbox:{row.id}",
        at=now,
        detail={"incident": row.incident_id, "author": author_of(row)},
    )
    return row


def _restore(session: Session, row: OutboxMail, now: datetime, by: str) -> None:
    """The incident as it was before the answer — unless a later answer changed it since."""
    incident = session.get(Incident, row.incident_id) if row.incident_id else None
    for message in session.scalars(
        select(IncidentMessage).where(IncidentMessage.message_id == row.message_id)
    ):
        message.direction = "note"  # stays in the thread for staff, out of the mail thread
        message.message_id = None
        message.body = f"{CANCELLED_MARK}\n{message.body}"
    prior = (row.payload or {}).get(PRIOR)
    if incident is None or prior is None or _later_answer(session, row):
        return
    spoke = incident.last_customer_message_at
    if spoke is None or spoke <= row.created_at:  # else the customer wrote since: still open
        incident.state = prior["state"]
        incident.closed_at = _instant(prior["closed_at"])
    incident.last_staff_answer_at = _instant(prior["last_staff_answer_at"])
    incident.close_nonce = prior["close_nonce"]
    incident.updated_at = now
    # A #close given with the answer: its closing notice is not sent either.
    session.execute(
        update(OutboxMail)
        .where(
            OutboxMail.incident_id == incident.id,
            OutboxMail.kind == OutboxKind.CLOSED,
            OutboxMail.state.in_(CANCELLABLE),
            OutboxMail.created_at == row.created_at,
        )
        .values(state=OutboxState.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    _unassign(session, incident, row, prior, now, by)
    _due_again(session, incident, row, prior, now)
    cancel_auto_close(session, incident, now)
    if prior["auto_close"] and incident.state == IncidentState.ANSWERED:
        session.execute(
            update(TimedAction)
            .where(TimedAction.id.in_(prior["auto_close"]), TimedAction.state == "cancelled")
            .values(state="pending", done_at=None)
        )


def _unassign(
    session: Session,
    incident: Incident,
    row: OutboxMail,
    prior: dict[str, Any],
    now: datetime,
    by: str,
) -> None:
    """An incident the cancelled answer assigned to its author (it was unassigned) is unassigned
    again: a cancelled answer does not count (``intake.collision``), nor does the assignment it
    made. Not when the incident was given to anyone since."""
    from intake.desk import assign

    author = author_of(row).lower()
    if "assignee" not in prior or prior["assignee"] is not None or not author:
        return
    if (incident.assignee or "").lower() != author or incident.assigned_at != row.created_at:
        return
    assign(session, incident, None, by=by, now=now, how="answer_cancelled")


def _due_again(
    session: Session, incident: Incident, row: OutboxMail, prior: dict[str, Any], now: datetime
) -> None:
    """The answer the cancelled one was due by is due again (its due time and sla_due timer
    back); a follow-up's due time set since gives way to it, as while an answer is due."""
    if "response_due" not in prior:  # queued before response targets
        return
    first = _instant(prior["first_response_at"])
    if first is None and incident.first_response_at == row.created_at:
        incident.first_response_at = None
    due = _instant(prior["response_due"])
    if due is None:
        return
    incident.response_due = due
    session.execute(
        update(TimedAction)
        .where(
            TimedAction.incident_id == incident.id,
            TimedAction.kind == SLA_KIND,
            TimedAction.state == "pending",
        )
        .values(state="cancelled", done_at=now)
    )
    if prior["sla_due"]:
        session.execute(
            update(TimedAction)
            .where(TimedAction.id.in_(prior["sla_due"]), TimedAction.state == "cancelled")
            .values(state="pending", done_at=None)
        )


def after_answers(session: Session, incident_id: int, message_id: str) -> None:
    """A mail queued after a staff answer (the closing notice of ``#close``) goes after it: not
    before the answer's hold ends, and only once an approver passed it."""
    waiting = unsent_answers(
        session, incident_id, (OutboxState.PENDING, OutboxState.AWAITING_APPROVAL)
    )
    if not waiting:
        return
    row = session.scalars(select(OutboxMail).where(OutboxMail.message_id == message_id)).one()
    row.due_at = max(row.due_at, *(w.due_at + timedelta(seconds=1) for w in waiting))
    if any(w.state == OutboxState.AWAITING_APPROVAL for w in waiting):
        row.state = OutboxState.AWAITING_APPROVAL


def _later_answer(session: Session, row: OutboxMail) -> bool:
    return bool(
        session.scalar(
            select(func.count())
            .select_from(OutboxMail)
            .where(
                OutboxMail.incident_id == row.incident_id,
                OutboxMail.kind == OutboxKind.ANSWER,
                OutboxMail.id > row.id,
                OutboxMail.state != OutboxState.CANCELLED,
            )
        )
    )


def start_auto_close(session: Session, config: Config, row: OutboxMail, now: datetime) -> None:
    """R18: the answer was delivered: the incident closes ``auto_close_hours`` from now unless the
    customer writes. Not when the customer wrote (or staff closed) while the answer waited."""
    incident = session.get(Incident, row.incident_id) if row.incident_id else None
    if incident is None or incident.state != IncidentState.ANSWERED:
        return
    cancel_auto_close(session, incident, now)
    hours = config.profile(incident.profile).auto_close_hours
    session.add(
        TimedAction(
            kind="auto_close",
            due_at=now + timedelta(hours=hours),
            incident_id=incident.id,
            created_at=now,
            payload={
                "answered_at": _iso(incident.last_staff_answer_at),
                "sent_at": now.isoformat(),
            },
        )
    )


class AnswerSent:
    """The dispatcher's hook for staff answers (``responder.outbox.SendHook``): the stored bytes
    are the mail; once delivered, R18's clock starts."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def compose(self, row: OutboxMail, now: datetime) -> bytes:
        return row.data

    def failed(self, session: Session, row: OutboxMail, now: datetime) -> None:
        """A failing answer shows in ``outbox list``; nothing more."""

    def sent(self, session: Session, row: OutboxMail, now: datetime) -> None:
        start_auto_close(session, self.config, row, now)
