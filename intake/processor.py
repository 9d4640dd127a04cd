"""The processor: stored messages through the pipeline, in a process of its own.

The daemon's main process keeps the doors (SMTP, IMAP) and the scheduler; the processor runs in
a second process, so acceptance and processing use both cores and never wait for each other
(DESIGN principle 2: store first, then think). Batches are read in id order; with a second core,
batch k+1 is parsed in a worker process while batch k is written. Woken by the doors,
and polling as a backstop, so messages left ``received`` by a crash are picked up at start.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

from sqlalchemy import select

from intake import db, logs
from intake.channels.fax import FaxReader
from intake.config import Config
from intake.mail.parse import ParsedMessage
from intake.models import RawMessage
from intake.parse_worker import Fetched, exit_with_parent, parse_many, parse_worker_init
from intake.pipeline import BATCH, Pipeline, due
from intake.processor_handle import DoorActivity
from scheduler.clock import Clock, SystemClock
from scheduler.service import build_scheduler

log = logging.getLogger("uketsuke.processor")

POLL_SECONDS = 1.0
# Acceptance first (DESIGN principle 2): while a door has stored mail within BURST_QUIET_SECONDS,
# the processor takes a turn of BURST_TURN_SECONDS once every BURST_PACE_SECONDS instead of
# competing with the doors for both cores, and drains the rest at full speed once the burst is
# over. It never starves: some processing happens every pace, however long the burst.
BURST_QUIET_SECONDS = 0.05
BURST_PACE_SECONDS = 0.1
BURST_TURN_SECONDS = 0.01
# SQLite: the WAL is copied into the database file between turns, at most this often (commits
# do not checkpoint in the daemon: see db.make_engine).
CHECKPOINT_SECONDS = 0.5




@dataclass
class Processor:
    pipeline: Pipeline
    clock: Clock
    workers: int = 1
    batch: int = BATCH
    wake: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)
    doors: DoorActivity | None = None

    def __post_init__(self) -> None:
        self.reads = db.read_sessions(self.pipeline.sessions)  # finding work takes no lock
        # SQLite: a batch's transaction ends early when a door waits to commit (acceptance
        # first); PostgreSQL writers do not wait for each other.
        self.writer_waiting = db.writer_waiting(self.pipeline.sessions.kw["bind"])
        self._turn_started = 0.0
        self._in_burst = False
        self._worker_up: Future[int] | None = None  # the parse worker's start-up
        self._checkpointed = time.monotonic()

    def _give_way(self) -> None:
        """During a burst, wait for the next turn (or for the burst to end)."""
        self._in_burst = False
        if self.doors is None:
            return
        while not self.stopping.is_set() and self.doors.quiet_for() < BURST_QUIET_SECONDS:
            self._in_burst = True
            wait = BURST_PACE_SECONDS - (time.monotonic() - self._turn_started)
            if wait <= 0:
                break
            self.stopping.wait(min(wait, BURST_QUIET_SECONDS))
        self._turn_started = time.monotonic()

    def should_yield(self) -> bool:
        """Asked after each message of a turn: commit now and let others go first?"""
        if self._in_burst and time.monotonic() - self._turn_started >= BURST_TURN_SECONDS:
            return True
        return self.writer_waiting is not None and self.writer_waiting()

    def _next_batch(self, after: int) -> list[Fetched]:
        with self.reads() as session:
            return [
                (row.id, row.data, row.spool)
                for row in session.execute(
                    select(RawMessage.id, RawMessage.data, RawMessage.spool)
                    .where(due(self.clock.now()), RawMessage.id > after)
                    .order_by(RawMessage.id)
                    .limit(self.batch)
                )
            ]

    def drain(self, pool: ProcessPoolExecutor | None) -> int:
        """Process everything received so far; returns how many messages were processed."""
        context = self.pipeline.context
        spool = self.pipeline.spool
        done = 0
        cursor = 0
        current = self._next_batch(cursor)
        pending: Future[dict[int, ParsedMessage]] | None = None
        if current and (worker := self._ready(pool)) is not None:
            pending = worker.submit(parse_many, current, context, spool)
        while current and not self.stopping.is_set():
            cursor = current[-1][0]
            following = self._next_batch(cursor)
            worker = self._ready(pool)
            upcoming = (
                worker.submit(parse_many, following, context, spool)
                if worker and following
                else None
            )
            # Without a worker, parse here all the same: before the batch's write transaction,
            # so SQLite's single write lock is held for the writes only.
            parsed = (
                pending.result() if pending is not None else parse_many(current, context, spool)
            )
            ids = [item[0] for item in current]
            while ids and not self.stopping.is_set():  # in as many turns as other writers need
                self._give_way()
                states, ids = self.pipeline.process_some(
                    ids, self.clock.now(), parsed=parsed, should_yield=self.should_yield
                )
                done += len(states)
                self._checkpoint()
            current, pending = following, upcoming
        return done

    def _checkpoint(self) -> None:
        if time.monotonic() - self._checkpointed >= CHECKPOINT_SECONDS:
            db.checkpoint(self.pipeline.sessions.kw["bind"])
            self._checkpointed = time.monotonic()

    def _ready(self, pool: ProcessPoolExecutor | None) -> ProcessPoolExecutor | None:
        """The pool once its worker has started; until then batches are parsed here (a
        restart with a backlog does not wait a second for the worker's imports)."""
        if pool is None or (self._worker_up is not None and not self._worker_up.done()):
            return None
        return pool

    def run(self) -> None:
        # spawn, not fork: this process runs threads (the event loop, the scheduler).
        pool = (
            ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=get_context("spawn"),
                initializer=parse_worker_init,
                initargs=(os.getpid(),),
            )
            if self.workers > 0
            else None
        )
        if pool is not None:  # started now, not at the first message: its memory is the idle
            self._worker_up = pool.submit(os.getpid)  # daemon's
        try:
            while not self.stopping.is_set():
                self.wake.clear()
                try:
                    self.drain(pool)
                except Exception:  # noqa: BLE001 - e.g. the database is down: retry, never die
                    log.error(
                        "processing failed; retrying in 5 s",
                        exc_info=log.isEnabledFor(logging.DEBUG),
                    )
                    self.stopping.wait(5)
                try:  # also when idle or failing: the doors' and scheduler's writes grow the WAL
                    self._checkpoint()
                except Exception:  # noqa: BLE001 - harmless: the next round tries again
                    log.debug("WAL checkpoint failed", exc_info=True)
                self.wake.wait(POLL_SECONDS)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()


def fax_reader(config: Config) -> FaxReader | None:
    return FaxReader(config) if config.fax_gateways else None


def run_processor_process(
    config: Config,
    wake: Any,
    stopping: Any,
    parent: int,
    workers: int,
    level: int,
    doors: DoorActivity | None = None,
) -> None:
    """The processor process's main: the pipeline, and the scheduler ticking due rows (outbox,
    held-inquiry expiry) beside it. Ends when told to, or when the daemon is gone."""
    exit_with_parent(parent)
    logs.configure(level)
    engine = db.make_engine(config.effective_database_url, autocheckpoint=False)
    pipeline = Pipeline(config, db.session_factory(engine), read_fax=fax_reader(config))
    # Batches of BATCH on both databases: on SQLite a turn still ends after the message under way
    # when a door waits for the write lock (Processor.should_yield), so batches can be long.
    processor = Processor(
        pipeline,
        SystemClock(),
        workers=workers,
        batch=BATCH,
        wake=wake,
        stopping=stopping,
        doors=doors,
    )
    clock = SystemClock()
    scheduler = build_scheduler(config, pipeline.sessions, clock)
    scheduler.start()
    try:
        processor.run()
    finally:
        scheduler.shutdown(wait=True)
        engine.dispose()
