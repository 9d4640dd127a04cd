"""A held inquiry's end (R2): completed, expired or discarded, its expiry timer goes with it.

``timers list`` shows only what will still happen: an inquiry completed by the customer's reply
(or ``held complete``) or discarded by staff has its pending ``held_expiry`` timer cancelled in the
same transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from intake.models import TimedAction

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
