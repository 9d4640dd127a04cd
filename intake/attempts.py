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

from sqlalchemy import Engine, select, update

from intake.models import RawMessage, RawState

log = logging.getLogger("uketsuke.processor")

MAX_ATTEMPTS = 3
INTERRUPTED = "Interrupted: processing stopped before it ended"
# While an attempt is under way its row's ``last_error`` says which daemon run makes it and how
# many attempts were given back before: ``running:RUN:N``. An attempt cut short by the death of
# the whole daemon (another run finds it: kill -9, a power cut, systemd's watchdog) is given back
# up to MAX_GIVEN_BACK times, because the message is most likely not to blame; one cut short in
# this run (the processor or its parse worker died while the daemon lived on) counts. The bound
# keeps a message that hangs the processor, and so gets the whole service restarted by the
# watchdog, from being tried for ever.
RUNNING = "running:"
MAX_GIVEN_BACK = 10

_RAW = RawMessage.__table__


def _running(run: str, given_back: int) -> str:
    return f"{RUNNING}{run}:{given_back}"


def _given_back(last_error: str | None, run: str) -> tuple[bool, int]:
    """(was the last attempt cut short by another daemon run, how many were given back)."""
    if not last_error or not last_error.startswith(RUNNING):
        return False, 0
    owner, _, count = last_error[len(RUNNING) :].rpartition(":")
    given = int(count) if count.isdigit() else 0
    return owner != run, given


def begin_attempt(engine: Engine, raw_ids: list[int], now: datetime, run: str = "") -> list[int]:
    """Count one attempt for each still-received message of ``raw_ids`` and commit; set aside
    those already tried MAX_ATTEMPTS times. ``run``: this daemon run (attempts another run left
    unfinished are given back, within MAX_GIVEN_BACK). Returns the ids to try now."""
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
            elsewhere, given = _given_back(row.last_error, run)
            counted = row.attempts
            if elsewhere and given < MAX_GIVEN_BACK:
                counted, given = counted - 1, given + 1  # the daemon died, not the message
            if counted >= MAX_ATTEMPTS:
                spent.append(row.id)
                error = row.last_error
                reason = INTERRUPTED if not error or error.startswith(RUNNING) else error
                connection.execute(
                    update(_RAW)
                    .where(_RAW.c.id == row.id)
                    .values(state=RawState.UNPROCESSABLE, processed_at=now, last_error=reason)
                )
            else:
                tried.append(row.id)
                connection.execute(
                    update(_RAW)
                    .where(_RAW.c.id == row.id)
                    .values(attempts=counted + 1, last_error=_running(run, given))
                )
        if fresh:  # the usual case: one statement for the batch
            connection.execute(
                update(_RAW)
                .where(_RAW.c.id.in_(fresh))
                .values(attempts=1, last_error=_running(run, 0))
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
