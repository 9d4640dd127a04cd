"""The processor: stored messages through the pipeline, in a process of its own.

The daemon's main process keeps the doors (SMTP, IMAP, web); the processor runs in a second
process, so acceptance and processing use both cores and never wait for each other (store first,
then think: docs/architecture.md, "Processes and threads"). Batches are read in id order; with a
second core, batch k+1 is parsed in a worker process while batch k is written. Woken by the
doors, and polling as a backstop, so messages left ``received`` by a crash are picked up at
start. It beats a heartbeat the main process watches (``intake.processor_handle``), and it
watches its own parse worker: a broken pool is replaced at once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

from sqlalchemy import ColumnElement, func, select

from intake import attempts, db, faults, logs
from intake.channels.fax import FaxReader
from intake.checkpointer import WalCheckpointer
from intake.config import Config
from intake.intakefirst import Turns
from intake.mail.parse import ParsedMessage
from intake.models import RawBytes, RawMessage, RawState
from intake.parse_worker import (
    Fetched,
    exit_with_parent,
    leave_stopping_to_the_daemon,
    parse_many,
    parse_worker_init,
)
from intake.pipeline import BATCH, Pipeline, due
from intake.processor_link import DoorActivity, ProcessorLink
from scheduler.clock import Clock, SystemClock
from scheduler.service import build_scheduler, send_now

log = logging.getLogger("uketsuke.processor")

POLL_SECONDS = 1.0  # a backstop: the doors wake the processor for new mail
MIN_WAIT_SECONDS = 0.01  # a waiting reply due already: no busy loop
_SOONEST_WAITING = select(func.min(RawMessage.not_before)).where(
    RawMessage.state == RawState.RECEIVED
)
# A drain's first batch; each next one at most twice the one before, up to ``batch``: after a
# pause (a burst at the doors, a start) the parse worker's first batch is ready soon, and the
# pipeline of parsing beside writing runs sooner (docs/benchmarks.md, "Issue 14, sixth pass").
FIRST_BATCH = 20
# The parse worker is replaced when it dies; more than this many times within the window and
# the processor exits, for the daemon's supervisor to count and restart it.
MAX_WORKER_RESTARTS = 5
WORKER_WINDOW_SECONDS = 600.0


def share_of_sender(count: int) -> ColumnElement[int]:
    """Which of ``count`` processors takes a stored message (PostgreSQL): a hash of its
    envelope sender, so that one sender's mail is processed by one processor in the order it
    arrived (a staff member's ``#cancel`` after the answer it cancels). Mail without an
    envelope sender (IMAP) is one sender here."""
    sender = func.lower(func.coalesce(RawMessage.envelope_from, ""))
    return func.get_byte(func.decode(func.md5(sender), "hex"), 0) % count


class WorkerGaveUp(Exception):
    pass


def _no_beat() -> None:
    return None


def _nothing_after(_done: int) -> None:
    return None


@dataclass
class Processor:
    pipeline: Pipeline
    clock: Clock
    workers: int = 1
    batch: int = BATCH
    wake: Any = field(default_factory=threading.Event)
    stopping: Any = field(default_factory=threading.Event)
    doors: DoorActivity | None = None
    beat: Callable[[], None] = _no_beat  # the heartbeat the daemon's supervisor reads
    # The first processor of a daemon run (intake.attempts: the attempts a dead daemon left
    # unfinished are given back); a processor restarted within the run counts them.
    first_of_run: bool = False
    # (k, n): this processor takes the stored messages of the senders whose share is k, beside
    # n - 1 others (intake.processors, PostgreSQL only; share_of_sender). Claims
    # (intake.attempts) keep it exact; the share keeps one sender's mail in order.
    part: tuple[int, int] = (0, 1)
    # Called with the count after a drain that processed messages (the daemon: the outbox sends
    # at once what they queued, acknowledgments first, instead of at its next tick).
    drained: Callable[[int], None] = _nothing_after

    def __post_init__(self) -> None:
        self.reads = db.read_sessions(self.pipeline.sessions)  # finding work takes no lock
        self.engine = self.pipeline.sessions.kw["bind"]
        # Intake first: turns paced while the doors are busy; on SQLite a turn also ends when a
        # door waits to commit (PostgreSQL writers do not wait for each other).
        self.turns = Turns(self.doors, self.stopping, db.writer_waiting(self.engine))
        self._worker_up: Future[int] | None = None  # the parse worker's start-up
        self.pool: ProcessPoolExecutor | None = None
        self._worker_deaths: deque[float] = deque()
        self.worker_restarts = 0
        self._prior: dict[int, int] = {}  # raw id -> attempts before this drain

    def should_yield(self) -> bool:
        """Asked after each message of a turn: commit now and let the doors go first?"""
        self.beat()
        return self.turns.over()

    def _next_batch(self, after: int, limit: int) -> list[Fetched]:
        query = select(RawMessage.id, RawBytes.data, RawMessage.spool, RawMessage.attempts)
        query = query.select_from(RawMessage).outerjoin(RawBytes)
        query = query.where(due(self.clock.now()), RawMessage.id > after)
        mine, count = self.part
        if count > 1:
            query = query.where(share_of_sender(count) == mine)
        with self.reads() as session:
            size = min(self.batch, max(FIRST_BATCH, limit))
            rows = session.execute(query.order_by(RawMessage.id).limit(size)).all()
        self._prior.update((row.id, row.attempts) for row in rows)
        return [(row.id, row.data, row.spool) for row in rows]

    def drain(self, pool: ProcessPoolExecutor | None) -> int:
        """Process everything received so far; returns how many messages were processed."""
        done = 0
        cursor = 0
        self._prior = {}
        current = self._next_batch(cursor, FIRST_BATCH)
        pending = self._parse_ahead(pool, current)
        while current and not self.stopping.is_set():
            cursor = current[-1][0]
            following = self._next_batch(cursor, 2 * len(current))
            pool = self.pool if pool is not None and self.pool is not None else pool
            if any(self._prior.get(item[0]) for item in current):
                # An earlier try of this batch did not end (the process died, or the batch
                # failed): each message alone, each attempt counted alone, so only the one
                # that fails is set aside.
                parsed = self._parsed(pending, current, wait=False)
                upcoming = self._parse_ahead(pool, following)
                done += sum(
                    self._try_alone(item, parsed) for item in current if not self.stopping.is_set()
                )
            else:
                # The attempt is counted (committed) before the batch is tried.
                # The next batch goes to the parse worker before this one's parse is waited
                # for: the worker never idles between batches.
                upcoming = self._parse_ahead(pool, following)
                # Never tried (the read that found them says so): one UPDATE … RETURNING.
                tried = set(attempts.begin_first_attempt(self.engine, [i[0] for i in current]))
                current = [item for item in current if item[0] in tried]
                parsed = self._parsed(pending, current)
                done += self._process(current, parsed)
            current, pending = following, upcoming
            self.beat()
        return done

    def _process(self, batch: list[Fetched], parsed: dict[int, ParsedMessage]) -> int:
        """The batch in as many turns as other writers need; if a turn fails as a whole, each
        of its messages is tried alone, so one bad message costs the others nothing."""
        done = 0
        items = {item[0]: item for item in batch}
        ids = list(items)
        while ids and not self.stopping.is_set():
            self.turns.begin()
            try:
                faults.before_processing([items[raw_id] for raw_id in ids])
                states, ids = self.pipeline.process_some(
                    ids, self.clock.now(), parsed=parsed, should_yield=self.should_yield
                )
            except Exception:  # noqa: BLE001 - one message at a time, below
                return done + sum(self._alone(items[raw_id], parsed) for raw_id in ids)
            done += len(states)
        return done

    def _try_alone(self, item: Fetched, parsed: dict[int, ParsedMessage]) -> int:
        """One message, its attempt counted first (set aside when its attempts are spent)."""
        if not attempts.begin_attempt(self.engine, [item[0]], self.clock.now(), self.first_of_run):
            return 0
        if item[0] not in parsed:
            parsed = parse_many([item], self.pipeline.context, self.pipeline.spool)
        return self._alone(item, parsed)

    def _alone(self, item: Fetched, parsed: dict[int, ParsedMessage]) -> int:
        try:
            faults.before_processing([item])
            states = self.pipeline.process_batch([item[0]], self.clock.now(), parsed=parsed)
        except Exception as exc:  # noqa: BLE001 - kept on the row; set aside after 3 attempts
            attempts.record_failure(self.engine, item[0], exc)
            return 0
        finally:
            self.beat()
        return len(states)

    def _parse_ahead(
        self, pool: ProcessPoolExecutor | None, batch: list[Fetched]
    ) -> Future[dict[int, ParsedMessage]] | None:
        worker = self._ready(pool)
        if worker is None or not batch:
            return None
        try:
            return worker.submit(parse_many, batch, self.pipeline.context, self.pipeline.spool)
        except BrokenProcessPool:
            self._replace_pool()
            return None

    def _parsed(
        self,
        pending: Future[dict[int, ParsedMessage]] | None,
        batch: list[Fetched],
        wait: bool = True,
    ) -> dict[int, ParsedMessage]:
        """The batch parsed by the worker, or here: without a worker, or when it died. Parsed
        before the batch's write transaction, so SQLite's write lock is held for writes only.
        With ``wait`` False, only what the worker parsed (the rest is parsed one by one)."""
        if pending is not None:
            try:
                return pending.result()
            except BrokenProcessPool:
                self._replace_pool()
        return parse_many(batch, self.pipeline.context, self.pipeline.spool) if wait else {}

    def _ready(self, pool: ProcessPoolExecutor | None) -> ProcessPoolExecutor | None:
        """The pool once its worker has started; until then batches are parsed here (a
        restart with a backlog does not wait a second for the worker's imports)."""
        if pool is None or (self._worker_up is not None and not self._worker_up.done()):
            return None
        return pool

    def _new_pool(self) -> ProcessPoolExecutor | None:
        if self.workers <= 0:
            return None
        # spawn, not fork: this process runs threads (the scheduler).
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=get_context("spawn"),
            initializer=parse_worker_init,
            initargs=(os.getpid(),),
        )
        # Started now, not at the first message: its memory is the idle daemon's.
        self._worker_up = pool.submit(os.getpid)
        return pool

    def _replace_pool(self) -> None:
        """The parse worker died (its pool is broken for good): a fresh pool at once."""
        now = time.monotonic()
        self._worker_deaths.append(now)
        while self._worker_deaths and now - self._worker_deaths[0] > WORKER_WINDOW_SECONDS:
            self._worker_deaths.popleft()
        if len(self._worker_deaths) > MAX_WORKER_RESTARTS:
            raise WorkerGaveUp(
                f"parse worker died {len(self._worker_deaths)} times within "
                f"{WORKER_WINDOW_SECONDS / 60:.0f} minutes"
            )
        log.error("parse worker died; starting a new one")
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.worker_restarts += 1
        self.pool = self._new_pool()

    def run(self) -> None:
        self.pool = self._new_pool()
        # SQLite: the WAL reaches the database file from a thread beside processing, also when
        # idle or failing (the doors' and the scheduler's writes grow it too).
        checkpointer = WalCheckpointer(self.engine, doors=self.doors).start()
        try:
            while not self.stopping.is_set():
                self.beat()
                self.wake.clear()
                try:
                    if done := self.drain(self.pool):
                        self.drained(done)
                except WorkerGaveUp:
                    raise
                except Exception:  # noqa: BLE001 - e.g. the database is down: retry, never die
                    log.error(
                        "processing failed; retrying in 5 s",
                        exc_info=log.isEnabledFor(logging.DEBUG),
                    )
                    self.stopping.wait(5)
                self.beat()
                self.wake.wait(self.idle_wait())
        finally:
            checkpointer.stop()
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)

    def idle_wait(self) -> float:
        """How long to sleep when nothing is due: until the soonest waiting reply may be tried
        again (R19: it waits for the message it answers), at most POLL_SECONDS (the doors wake
        the processor at once for new mail)."""
        try:
            with self.reads() as session:
                soonest = session.scalar(_SOONEST_WAITING)
        except Exception:  # noqa: BLE001 - the next drain says why, with its retry
            return POLL_SECONDS
        if soonest is None:
            return POLL_SECONDS
        until = (soonest - self.clock.now()).total_seconds()
        return min(POLL_SECONDS, max(MIN_WAIT_SECONDS, until))

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()


def fax_reader(config: Config) -> FaxReader | None:
    return FaxReader(config) if config.fax_gateways else None


def run_processor_process(
    config: Config,
    link: ProcessorLink,
    parent: int,
    workers: int,
    level: int,
    first_of_run: bool = False,
    part: tuple[int, int] = (0, 1),
) -> None:
    """The processor process's main: the pipeline, and (in the first processor of ``part``)
    the scheduler ticking due rows (outbox, held-inquiry expiry) beside it. Ends when told to,
    or when the daemon is gone; exits 3 when its parse worker keeps dying (the daemon's
    supervisor restarts it, and counts)."""
    leave_stopping_to_the_daemon()
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
        wake=link.wakeups,
        stopping=link.stopping,
        doors=link.doors,
        beat=link.beat,
        first_of_run=first_of_run,
        part=part,
    )
    # One scheduler a daemon: its jobs claim their rows, so a second would only wait beside it.
    scheduler = build_scheduler(config, pipeline.sessions, SystemClock()) if not part[0] else None
    if scheduler is not None:
        scheduler.start()
        processor.drained = lambda _done: send_now(scheduler)
    try:
        processor.run()
    except WorkerGaveUp as exc:
        log.error("%s; the processor exits", exc)
        os._exit(3)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=True)
        engine.dispose()
