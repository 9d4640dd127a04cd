"""Intake first: the one rule by which the rest of the daemon gives way to the doors.

A sender waits for its 250 (R29: 250 only after commit #1); nobody waits for an incident a few
hundred milliseconds sooner. So everything behind the doors takes what the doors leave:

- **The doors are busy** while they stored mail within the last :data:`QUIET_SECONDS` (a
  timestamp in shared memory, ``intake.processor_link.DoorActivity``).
- **The processor works in turns** (:class:`Turns`). While the doors are busy, a turn lasts at
  most :data:`BUSY_TURN_SECONDS` and the next one begins a :data:`PACE_SECONDS` after it began;
  once they are quiet it drains at full speed. On SQLite a turn also ends, after at least
  :data:`MIN_TURN_SECONDS`, as soon as another writer waits for the write lock
  (``intake.writer_turns``), so a door's commit waits for one message, not a batch. A turn always
  processes at least one message: the processor never starves, however long the burst.
- **Background work waits for stored mail** (:class:`Deferral`): outbox delivery and the search
  index do nothing while stored mail waits to be processed, never longer than :data:`MAX_DEFER`.
- **SQLite's WAL checkpoint waits for the doors** (:func:`checkpoint_may_run`): while they are
  busy the WAL only grows (the bytes they store are copied into the database file afterwards),
  never for longer than :data:`MAX_CHECKPOINT_DEFER_SECONDS`.
- **The parse worker runs at a lower CPU priority** (:data:`PARSE_NICE`): it holds no lock, so
  on a busy machine the doors and the processor get the CPU first and parsing fills the rest.

Measured with ``bench/intake.py`` (docs/benchmarks.md, "Intake first", and "A burst leaves
the cores to the doors" for the pace of one second and the checkpoint's wait): busy turns of 30 ms
instead of 10 slowed both acceptance and end to end; no pacing at all cost acceptance 0.86 ->
0.60× the ceiling; the parse worker at nice 0 instead of 10 made no difference that two pairs of
runs could tell, and is kept for a machine busier than the benchmark's. Python's GIL switch
interval was measured against a shorter one and left at its default.

Pure: no database, no I/O (the parse worker imports :data:`PARSE_NICE` from here).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

QUIET_SECONDS = 0.05
BUSY_POLL_SECONDS = 0.01  # how soon a waiting turn sees the doors go quiet
PACE_SECONDS = 1.0
BUSY_TURN_SECONDS = 0.01
MIN_TURN_SECONDS = 0.002
MAX_DEFER = timedelta(seconds=30)
MAX_CHECKPOINT_DEFER_SECONDS = 5.0
PARSE_NICE = 10


class _Doors(Protocol):
    def quiet_for(self) -> float: ...


class _Stopping(Protocol):
    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class Turns:
    """The processor's turns (see the module's docstring)."""

    def __init__(
        self,
        doors: _Doors | None,
        stopping: _Stopping,
        writer_waiting: Callable[[], bool] | None = None,
    ) -> None:
        self.doors = doors
        self.stopping = stopping
        self.writer_waiting = writer_waiting
        self.started = 0.0
        self.busy = False  # this turn was taken while the doors were busy

    def begin(self) -> None:
        """Before a turn: while the doors are busy, wait for the next pace (or for them to go
        quiet); at once otherwise."""
        self.busy = False
        if self.doors is not None:
            while not self.stopping.is_set() and self.doors.quiet_for() < QUIET_SECONDS:
                self.busy = True
                wait = PACE_SECONDS - (time.monotonic() - self.started)
                if wait <= 0:
                    break
                self.stopping.wait(min(wait, BUSY_POLL_SECONDS))
        self.started = time.monotonic()

    def over(self) -> bool:
        """Asked after each message of a turn: commit now and let the doors go first?"""
        elapsed = time.monotonic() - self.started
        if elapsed < MIN_TURN_SECONDS:
            return False
        if self.busy and elapsed >= BUSY_TURN_SECONDS:
            return True
        return self.writer_waiting is not None and self.writer_waiting()


def checkpoint_may_run(doors: _Doors | None, deferred_for: float) -> bool:
    """May SQLite's WAL checkpoint run now, having waited ``deferred_for`` seconds?"""
    if doors is None or deferred_for >= MAX_CHECKPOINT_DEFER_SECONDS:
        return True
    return doors.quiet_for() >= QUIET_SECONDS


class Deferral:
    """Background work's wait for stored mail (see the module's docstring)."""

    def __init__(self) -> None:
        self.since: datetime | None = None

    def waits(self, stored_mail_waits: bool, now: datetime) -> bool:
        if stored_mail_waits:
            self.since = self.since or now
            if now - self.since < MAX_DEFER:
                return True
        self.since = None
        return False
