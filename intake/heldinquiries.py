"""A held inquiry's end (R2): completed, expired or discarded, its expiry timer goes with it.

``timers list`` shows only what will still happen: an inquiry completed by the customer's reply
(or ``held complete``) or discarded by staff has its pending ``held_expiry`` timer cancelled in the
same transaction.

Staff throw away held spam with :func:`discard` (``uketsuke held discard``, the dashboard's 破棄):
a held inquiry becomes ``discarded``, a held or unprocessable raw message ``ignored``; nothing is
sent, the raw mail stays stored like any ignored mail, and the action is audited (R26).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from intake.audit import audit
from intake.models import Inquiry, RawMessage, TimedAction
from intake.states import RawState

HELD_EXPIRY = "held_expiry"


def cancel_expiry(session: Session, inquiry_id: int, now: datetime) -> None:
    """The inquiry's pending expiry timer, cancelled (it will never expire now)."""
    session.execute(
        update(TimedAction)
        .where(
            TimedAction.inquiry_id == inquiry_id,
            TimedAction.kind == HELD_EXPIRY,
            TimedAction.state == "pending",
        )
        .values(state="cancelled", done_at=now)
    )


DISCARDED = "discarded"
DISCARD_NOTE = "discarded by staff"


class CannotDiscard(LookupError):
    """Nothing held under that id; the message says why, in one line."""


def discard(session: Session, kind: str, item_id: int, actor: str, now: datetime) -> None:
    """Throw away a held inquiry (``kind`` "inquiry") or a held or unprocessable raw message
    ("raw"), audited as ``held_discard``. Raises :class:`CannotDiscard`."""
    if kind == "inquiry":
        inquiry = session.get(Inquiry, item_id, with_for_update=True)
        if inquiry is None:
            raise CannotDiscard(f"no held inquiry {item_id}")
        if inquiry.state != "held":
            raise CannotDiscard(f"inquiry {item_id} is {inquiry.state}, not held")
        inquiry.state = DISCARDED
        inquiry.resolved_at = now
        cancel_expiry(session, inquiry.id, now)
        raw_id = inquiry.raw_message_id
    else:
        raw_id = item_id
    raw = session.get(RawMessage, raw_id, with_for_update=True) if raw_id is not None else None
    if kind == "raw":
        if raw is None:
            raise CannotDiscard(f"no raw message {item_id}")
        if raw.state not in (RawState.HELD, RawState.UNPROCESSABLE) or _waits(session, raw.id):
            raise CannotDiscard(f"raw message {item_id} is not held for staff")
    if raw is not None and raw.state in (RawState.HELD, RawState.UNPROCESSABLE):
        raw.state = RawState.IGNORED
        raw.last_error = DISCARD_NOTE
        raw.processed_at = now
    audit(
        session,
        "held_discard",
        actor=actor,
        target=f"{kind}:{item_id}",
        at=now,
        detail={"raw": raw_id} if kind == "inquiry" else None,
    )


def _waits(session: Session, raw_id: int) -> bool:
    """The raw message of an inquiry still held: discard the inquiry, not its mail."""
    held = select(Inquiry.id).where(Inquiry.raw_message_id == raw_id, Inquiry.state == "held")
    return session.scalar(held.limit(1)) is not None
