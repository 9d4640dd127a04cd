"""The processor gives way to the doors during a burst (acceptance first, docs/architecture.md)
and never starves; outside a burst it does not wait. Real SQLite/PostgreSQL (`sessions`)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context

import pytest
from sqlalchemy import func, select

from intake import db
from intake.checkpointer import WalCheckpointer
from intake.config import load_config
from intake.intakefirst import BUSY_POLL_SECONDS, PARSE_NICE
from intake.intakefirst import PACE_SECONDS as BURST_PACE_SECONDS
from intake.intakefirst import QUIET_SECONDS as BURST_QUIET_SECONDS
from intake.models import RawMessage, RawState
from intake.parse_worker import parse_worker_init
from intake.pipeline import Pipeline
from intake.processor import (
    FIRST_BATCH,
    MIN_WAIT_SECONDS,
    POLL_SECONDS,
    Processor,
)
from intake.processor_link import DoorActivity
from intake.store import store_raw
from scheduler.clock import FixedClock, SystemClock
from tests.mailmaker import FIELDS_BLOCK, make_mail


@pytest.fixture
def pipeline(sessions) -> Pipeline:
    return Pipeline(load_config(None, env={}), sessions)


def store(pipeline: Pipeline, n: int) -> None:
    for i in range(n):
        body = f"{FIELDS_BLOCK}\nライセンスキーの再発行をお願いします。({i})\n"
        store_raw(pipeline.sessions, make_mail(body), channel="smtp", profile="helpdesk")


def left(pipeline: Pipeline) -> int:
    with pipeline.sessions() as session:
        return (
            session.scalar(select(func.count()).where(RawMessage.state == RawState.RECEIVED)) or 0
        )


class Turns:
    """The moments the processor starts a turn (a transaction of the pipeline)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.starts: list[float] = []
        original = pipeline.process_some

        def recorded(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            self.starts.append(time.monotonic())
            return original(*args, **kwargs)

        pipeline.process_some = recorded  # type: ignore[method-assign]


def test_processor_gives_way_during_a_burst_and_never_starves(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """During a burst a turn starts only a whole pace after the one before, yet all is processed.

    No wall-clock time: the processor and the doors read a monotonic clock of the test's, which
    only the processor's waits on its stop event move, and the doors store a message at every
    tick (a burst that never ends). So the waits between two turns are exactly how the processor
    gave way.
    """
    store(pipeline, 12)

    class Clock:
        """``time`` for intake.processor and intake.processor_link, with a clock of our own."""

        now = 1000.0

        def monotonic(self) -> float:
            return self.now

        def __getattr__(self, name: str) -> object:
            return getattr(time, name)

    clock = Clock()
    monkeypatch.setattr("intake.intakefirst.time", clock)
    monkeypatch.setattr("intake.processor_link.time", clock)
    doors = DoorActivity(get_context("spawn"))
    events: list[tuple[str, float]] = []  # ("wait", seconds) and ("turn", clock) in order

    class Stopping(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            assert timeout is not None
            events.append(("wait", timeout))
            clock.now += max(timeout, 1e-6)
            doors.stored()  # the burst goes on
            if len(events) > 10_000:
                self.set()  # starving: a pace that never ends would never let the drain end
            return self.is_set()

    doors.stored()
    processor = Processor(
        pipeline, SystemClock(), workers=0, batch=4, doors=doors, stopping=Stopping()
    )
    in_burst: list[bool] = []
    original = pipeline.process_some

    def turn(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        events.append(("turn", clock.now))
        in_burst.append(processor.turns.busy)
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "process_some", turn)
    done = processor.drain(None)

    assert done == 12 and left(pipeline) == 0  # the burst never ends here, yet all is processed
    assert len(in_burst) >= 3 and all(in_burst)  # every turn was taken as a burst turn
    first = next(index for index, (kind, _) in enumerate(events) if kind == "turn")
    waited = 0.0
    for kind, value in events[first + 1 :]:
        if kind == "wait":
            assert value <= BUSY_POLL_SECONDS  # the doors are looked at again meanwhile
            waited += value
        else:  # one turn a pace, not one after another
            assert waited >= BURST_PACE_SECONDS - 1e-9, f"{waited} s waited between two turns"
            waited = 0.0


def test_processor_does_not_wait_when_the_doors_are_quiet(pipeline: Pipeline) -> None:
    store(pipeline, 8)
    doors = DoorActivity(get_context("spawn"))
    doors.stored()
    time.sleep(BURST_QUIET_SECONDS * 2)  # the last store is older than the quiet time
    processor = Processor(pipeline, SystemClock(), workers=0, batch=2, doors=doors)
    turns = Turns(pipeline)
    assert processor.drain(None) == 8
    assert len(turns.starts) == 4
    assert not processor.turns.busy  # no turn was taken as a busy turn


def test_door_activity_is_shared_with_a_spawned_process() -> None:
    context = get_context("spawn")
    doors = DoorActivity(context)
    assert doors.quiet_for() > 1  # never stored: quiet
    child = context.Process(target=doors.stored)
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert doors.quiet_for() < 30  # what the child wrote is what this process reads


def test_parse_worker_runs_below_the_doors_and_start_up_is_not_waited_for(
    pipeline: Pipeline,
) -> None:
    """Until the spawned parse worker is up, batches are parsed in the processor (a restart
    with a backlog starts at once); the worker parses at a lower priority than the doors."""
    processor = Processor(pipeline, SystemClock(), workers=1)
    pool = ProcessPoolExecutor(
        max_workers=1,
        mp_context=get_context("spawn"),
        initializer=parse_worker_init,
        initargs=(os.getpid(),),
    )
    try:
        processor._worker_up = pool.submit(os.getpid)
        assert processor._ready(pool) is None  # a spawned interpreter is not up yet
        store(pipeline, 3)
        assert processor.drain(pool) == 3  # parsed here meanwhile
        processor._worker_up.result(60)
        assert processor._ready(pool) is pool
        assert pool.submit(os.nice, 0).result(60) == min(19, os.nice(0) + PARSE_NICE)
        store(pipeline, 3)
        assert processor.drain(pool) == 3  # and through the worker
    finally:
        pool.shutdown()


def test_processor_checkpoints_the_wal_beside_processing(tmp_path) -> None:
    """The processor process's checkpoint thread copies the WAL into the database file while
    the processor works (and once more when it stops)."""
    url = f"sqlite:///{tmp_path / 'u.db'}"
    engine = db.make_engine(url, autocheckpoint=False)
    db.upgrade(engine)
    pipeline = Pipeline(load_config(None, env={}), db.session_factory(engine))
    store(pipeline, 4)
    path = tmp_path / "u.db"
    before = path.stat().st_size
    processor = Processor(pipeline, SystemClock(), workers=0)
    checkpointer = WalCheckpointer(engine, interval=3600).start()  # only the one at stop
    try:
        assert processor.drain(None) == 4
        assert path.stat().st_size == before  # nothing copied by the commits themselves
    finally:
        checkpointer.stop()
    assert checkpointer.done == 1
    assert path.stat().st_size > before  # the stored and processed rows reached the file
    engine.dispose()


def test_parse_worker_imports_the_parser_and_nothing_of_the_daemon() -> None:
    """The idle daemon's memory is the sum of its processes: the worker needs no database,
    SMTP, web or OCR library (bench/idle_rss.py measures the total)."""
    probe = (
        "import sys, intake.parse_worker; "
        "print(' '.join(m for m in ('sqlalchemy', 'aiosmtpd', 'flask', 'imapclient', "
        "'apscheduler', 'rapidocr', 'onnxruntime', 'PIL') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_daemon_main_process_leaves_the_pipeline_to_the_processor() -> None:
    """The doors' process needs storage, not the pipeline, the scheduler, the templates or
    Alembic: those load in the processor process only (bench/idle_rss.py)."""
    probe = (
        "import sys, intake.daemon; "
        "print(' '.join(m for m in ('alembic', 'mako', 'jinja2', 'apscheduler', "
        "'intake.pipeline', 'intake.accept', 'responder.outbox') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_r19_the_idle_processor_wakes_when_a_waiting_reply_is_due(pipeline) -> None:
    """A reply waiting for the message it answers is tried again at its time, not at the next
    one-second poll: the processor sleeps until the soonest waiting reply (at most a poll)."""
    now = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)
    clock = FixedClock(now)
    processor = Processor(pipeline, clock, workers=0)
    assert processor.idle_wait() == POLL_SECONDS  # nothing waits
    store(pipeline, 2)
    with pipeline.sessions.begin() as session:
        first, second = session.scalars(select(RawMessage).order_by(RawMessage.id)).all()
        first.not_before = now + timedelta(seconds=0.2)
        second.not_before = now + timedelta(seconds=0.5)
    assert processor.idle_wait() == pytest.approx(0.2)
    clock.at = now + timedelta(seconds=1)  # overdue: at once, without spinning
    assert processor.idle_wait() == MIN_WAIT_SECONDS
    clock.at = now - timedelta(seconds=10)
    assert processor.idle_wait() == POLL_SECONDS


class _Busy:
    """Doors that stored mail a moment ago, whenever asked (a burst that never ends)."""

    def quiet_for(self) -> float:
        return 0.0


def test_wal_checkpoint_waits_while_the_doors_are_busy_but_not_for_long() -> None:
    """Intake first: the checkpoint's copying and syncing wait for a burst to end, at most
    MAX_CHECKPOINT_DEFER_SECONDS; with quiet doors (or none) it runs when due."""
    from intake.intakefirst import MAX_CHECKPOINT_DEFER_SECONDS, checkpoint_may_run

    quiet = DoorActivity(get_context("spawn"))  # never stored: quiet
    assert checkpoint_may_run(None, 0.0)
    assert checkpoint_may_run(quiet, 0.0)
    assert not checkpoint_may_run(_Busy(), 0.0)
    assert not checkpoint_may_run(_Busy(), MAX_CHECKPOINT_DEFER_SECONDS - 0.01)
    assert checkpoint_may_run(_Busy(), MAX_CHECKPOINT_DEFER_SECONDS)


def test_wal_checkpointer_defers_for_busy_doors_then_runs(tmp_path, monkeypatch) -> None:
    """The thread itself: with doors busy for ever it runs no checkpoint until the longest
    wait has passed, then runs one anyway (the WAL never grows without end)."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'u.db'}", autocheckpoint=False)
    db.upgrade(engine)
    monkeypatch.setattr("intake.intakefirst.MAX_CHECKPOINT_DEFER_SECONDS", 3600.0)
    checkpointer = WalCheckpointer(engine, interval=0.01, doors=_Busy()).start()  # type: ignore[arg-type]
    time.sleep(0.3)  # about 30 times due
    assert checkpointer.done == 0
    monkeypatch.setattr("intake.intakefirst.MAX_CHECKPOINT_DEFER_SECONDS", 0.05)
    deadline = time.monotonic() + 30
    while checkpointer.done == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    checkpointer.stop()
    assert checkpointer.done >= 2  # at least one while the doors were busy, and the one at stop
    engine.dispose()


def test_a_drain_starts_with_a_small_batch_and_doubles_up_to_the_full_one(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a pause the first batch is parsed and written soon; then batches grow to full size."""
    store(pipeline, 200)
    processor = Processor(pipeline, SystemClock(), workers=0, batch=50)
    sizes: list[int] = []
    original = pipeline.process_some

    def turn(ids, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        sizes.append(len(ids))
        return original(ids, *args, **kwargs)

    monkeypatch.setattr(pipeline, "process_some", turn)
    assert processor.drain(None) == 200 and left(pipeline) == 0
    assert sizes == [FIRST_BATCH, 2 * FIRST_BATCH, 50, 50, 200 - 3 * FIRST_BATCH - 2 * 50]


def test_after_a_drain_that_processed_mail_the_daemon_is_told_how_much(pipeline: Pipeline) -> None:
    """The hook the daemon uses to send the acknowledgments at once (scheduler.service.send_now):
    called with the count after a drain that processed messages, not after an empty one."""
    store(pipeline, 3)
    calls: list[int] = []
    processor = Processor(pipeline, SystemClock(), workers=0)

    def drained(done: int) -> None:
        calls.append(done)
        processor.stop()

    processor.drained = drained
    runner = threading.Thread(target=processor.run)
    runner.start()
    runner.join(30)
    processor.stop()
    runner.join(30)
    assert calls == [3] and left(pipeline) == 0
