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

from sqlalchemy import Engine, bindparam, select, update

from intake.models import RawMessage, RawState

log = logging.getLogger("uketsuke.processor")

MAX_ATTEMPTS = 3
INTERRUPTED = "Interrupted: processing stopped before it ended"
# The first processor of a daemon run finds the attempts a dead daemon left unfinished (kill -9,
# a power cut, systemd's watchdog): it gives each back, because the message is most likely not
# to blame, up to MAX_GIVEN_BACK times a message (counted on its row's ``last_error`` as
# ``given back: N``). A processor restarted within a run (its predecessor died while the daemon
# lived on) counts them. The bound keeps a message that hangs the processor, and so gets the whole
# service restarted by the watchdog, from being tried for ever. Only such rare rows are written
# to: the usual attempt is one UPDATE of ``attempts`` for the batch.
GIVEN_BACK = "given back: "
MAX_GIVEN_BACK = 10

_RAW = RawMessage.__table__


def _given_back(last_error: str | None) -> int | None:
    """How often an unfinished attempt of this row was given back; None when its last attempt
    ended with an error (which counts)."""
    if last_error is None:
        return 0
    if last_error.startswith(GIVEN_BACK):
        count = last_error[len(GIVEN_BACK) :]
        return int(count) if count.isdigit() else 0
    return None


def begin_attempt(
    engine: Engine, raw_ids: list[int], now: datetime, give_back: bool = False
) -> list[int]:
    """Count one attempt for each still-received message of ``raw_ids`` and commit; set aside
    those already tried MAX_ATTEMPTS times. ``give_back``: this is the first processor of a
    daemon run (unfinished attempts of a dead daemon are given back, within MAX_GIVEN_BACK).
    Returns the ids to try now."""
    if not raw_ids:
        return []
    with engine.begin() as connection:
        rows = connection.execute(
            select(_RAW.c.id, _RAW.c.attempts, _RAW.c.last_error).where(
                _RAW.c.id.in_(raw_ids), _RAW.c.state == RawState.RECEIVED
            )
        ).all()
        fresh = [row.id for row in rows if row.attempts == 0]
        tried, spent = list(fresh), []
        for row in rows:
            if row.attempts == 0:
                continue
            counted, given = row.attempts, _given_back(row.last_error)
            values: dict[str, object] = {}
            if give_back and given is not None and given < MAX_GIVEN_BACK:
                counted -= 1  # the daemon died, not because of the message
                values["last_error"] = f"{GIVEN_BACK}{given + 1}"
            if counted >= MAX_ATTEMPTS:
                spent.append(row.id)
                error = row.last_error
                reason = INTERRUPTED if given is not None else error
                values = {
                    "state": RawState.UNPROCESSABLE,
                    "processed_at": now,
                    "last_error": reason,
                }
            else:
                tried.append(row.id)
                values["attempts"] = counted + 1
            connection.execute(update(_RAW).where(_RAW.c.id == row.id).values(**values))
        if fresh:  # the usual case: one statement for the batch
            connection.execute(update(_RAW).where(_RAW.c.id.in_(fresh)).values(attempts=1))
    for raw_id in spent:  # the error class only: never the message's text (R26)
        log.error("raw %s unprocessable after %d attempts; set aside", raw_id, MAX_ATTEMPTS)
    order = {raw_id: n for n, raw_id in enumerate(raw_ids)}
    return sorted(tried, key=order.__getitem__)


def begin_first_attempt(engine: Engine, raw_ids: list[int]) -> list[int]:
    """:func:`begin_attempt` for a batch never tried before (the usual case, known from the read
    that found it): one UPDATE … RETURNING counts the first attempt of each message still
    received and untried, and commits. A message someone else tried or finished meanwhile is
    left for the next round, which finds it tried (or gone). Returns the ids to try now."""
    if not raw_ids:
        return []
    with engine.begin() as connection:
        counted = set(connection.scalars(_FIRST_ATTEMPT, {"ids": raw_ids}))
    return [raw_id for raw_id in raw_ids if raw_id in counted]


_FIRST_ATTEMPT = (
    update(_RAW)
    .where(
        _RAW.c.id.in_(bindparam("ids", expanding=True)),
        _RAW.c.state == RawState.RECEIVED,
        _RAW.c.attempts == 0,
    )
    .values(attempts=1)
    .returning(_RAW.c.id)
)


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
