"""Attempts of the processor on a stored message, counted before they are made (R29).

A message whose processing raises outside its own SAVEPOINT, or that kills the processor or its
parse worker, would otherwise be tried again for ever with its batch. Each batch's attempt is
committed before the batch is tried; a message already tried :data:`MAX_ATTEMPTS` times is set
aside as ``unprocessable`` alone (``held list``, the dashboard, ``reprocess``), and the rest of
its batch goes on. A message deferred (R19) gives its attempt back: waiting is not failing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine, case, select, update

from intake.models import RawMessage, RawState

log = logging.getLogger("uketsuke.processor")

MAX_ATTEMPTS = 3
INTERRUPTED = "Interrupted: processing stopped before it ended"

_RAW = RawMessage.__table__


def begin_attempt(engine: Engine, raw_ids: list[int], now: datetime) -> list[int]:
    """Count one attempt for each still-received message of ``raw_ids`` and commit; set aside
    those already tried MAX_ATTEMPTS times. Returns the ids to try now."""
    if not raw_ids:
        return []
    with engine.begin() as connection:
        rows = connection.execute(
            select(_RAW.c.id, _RAW.c.attempts).where(
                _RAW.c.id.in_(raw_ids), _RAW.c.state == RawState.RECEIVED
            )
        ).all()
        spent = [row.id for row in rows if row.attempts >= MAX_ATTEMPTS]
        tried = [row.id for row in rows if row.attempts < MAX_ATTEMPTS]
        if spent:
            connection.execute(
                update(_RAW)
                .where(_RAW.c.id.in_(spent), _RAW.c.state == RawState.RECEIVED)
                .values(
                    state=RawState.UNPROCESSABLE,
                    processed_at=now,
                    last_error=case(
                        (_RAW.c.last_error.is_(None), INTERRUPTED), else_=_RAW.c.last_error
                    ),
                )
            )
        if tried:
            connection.execute(
                update(_RAW).where(_RAW.c.id.in_(tried)).values(attempts=_RAW.c.attempts + 1)
            )
    for raw_id in spent:  # the error class only: never the message's text (R26)
        log.error("raw %s unprocessable after %d attempts; set aside", raw_id, MAX_ATTEMPTS)
    order = {raw_id: n for n, raw_id in enumerate(raw_ids)}
    return sorted(tried, key=order.__getitem__)


def record_failure(engine: Engine, raw_id: int, error: BaseException) -> None:
    """A try of one message raised outside its SAVEPOINT: its error class is kept on its row
    (the attempt was counted already), for ``held list`` once it is set aside."""
    with engine.begin() as connection:
        connection.execute(
            update(_RAW)
            .where(_RAW.c.id == raw_id, _RAW.c.state == RawState.RECEIVED)
            .values(last_error=type(error).__name__)
        )
    log.error("raw %s failed (%s); tried again later", raw_id, type(error).__name__)
