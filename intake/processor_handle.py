"""The daemon's handle on its processor process (two on PostgreSQL), and the supervision of it.

The main process (the doors) imports this module only: the pipeline, the scheduler and the
responder load in the processor process, not in the daemon's (the idle daemon's memory is the sum
of its processes, ``bench/idle_rss.py``). The main process checks each processor, which has a
link and heartbeat of its own, every second (:meth:`ProcessorProcess.check`,
docs/architecture.md, "Supervision"): a dead processor is restarted at once, a stalled one (no
heartbeat for :data:`STALL_RESTART_SECONDS`) is killed and restarted, and more than
:data:`MAX_RESTARTS` restarts within :data:`RESTART_WINDOW_SECONDS` make the daemon give up, so
that systemd restarts the whole service.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from intake.config import Config
from intake.processor_link import DoorActivity, ProcessorLink

log = logging.getLogger("uketsuke")

MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 600.0
# /healthz answers 503 once the heartbeat is this old (the processor beats every second when
# idle and after every message when busy: only a stuck step or a stuck database is this slow).
# A test may shorten it (UKETSUKE_TEST_HEALTH_STALE_SECONDS with UKETSUKE_TESTING=1), so that
# waiting for a stale heartbeat does not cost the suite half a minute.
HEALTH_STALE_SECONDS = float(
    os.environ.get("UKETSUKE_TEST_HEALTH_STALE_SECONDS", 30.0)
    if os.environ.get("UKETSUKE_TESTING")
    else 30.0
)
# ... and the supervisor kills and restarts it when it is this old (a fax page read by OCR
# takes seconds, not minutes).
STALL_RESTART_SECONDS = 300.0
# At the daemon's start the processor has this long for its imports before /healthz says so.
START_GRACE_SECONDS = 30.0
STATE_FILE = "processor.json"


def _processor_main(*args: Any) -> None:
    """The spawned process's entry: the processor's imports happen there, not here."""
    from intake.processor import run_processor_process

    run_processor_process(*args)


@dataclass(frozen=True)
class Liveness:
    alive: bool
    heartbeat_age_s: float | None
    restarts: int
    problem: str | None  # one line for /healthz, None when healthy


class GaveUp(Exception):
    """The processor kept dying: the daemon exits non-zero for systemd to restart it."""


class _Slot:
    """One processor process of the daemon: its link, its process, when it was (re)started."""

    def __init__(self, context: Any, doors: DoorActivity, index: int, count: int) -> None:
        self.link = ProcessorLink(context, doors)
        self.index, self.count = index, count
        self.process: Any = None
        self.started_at = 0.0
        self.restarted = False  # since the last start, is this a restart (no start-up grace)?

    @property
    def name(self) -> str:
        return "processor" if self.count == 1 else f"processor {self.index + 1} of {self.count}"

    @property
    def alive(self) -> bool:
        """Without reaping (the web thread asks too): the process's sentinel is not ready."""
        return self.process is not None and not wait([self.process.sentinel], 0)

    def heartbeat_age(self) -> float | None:
        beat = self.link.heartbeat_at()
        return None if beat is None else max(0.0, time.monotonic() - beat)

    def problem(self) -> str | None:
        """One line for /healthz (``processor: …``), None when this processor is healthy."""
        age = self.heartbeat_age()
        since_start = time.monotonic() - self.started_at
        where = "" if self.count == 1 else f" ({self.index + 1} of {self.count})"
        if not self.alive:
            return f"processor: not running (restarting){where}"
        if age is None and (self.restarted or since_start > START_GRACE_SECONDS):
            started = "restarted" if self.restarted else "started"
            return f"processor: {started} {since_start:.0f} s ago, no heartbeat yet{where}"
        if age is not None and age > HEALTH_STALE_SECONDS:
            return f"processor: no heartbeat for {age:.0f} s{where}"
        return None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.join(5)


class ProcessorProcess:
    """The daemon's handle on its processor processes (spawned: the daemon runs threads): one,
    or ``Config.processors`` on PostgreSQL, each taking its share of the stored messages."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.context = get_context("spawn")
        self.doors = DoorActivity(self.context)
        count = config.processors
        self.slots = [_Slot(self.context, self.doors, k, count) for k in range(count)]
        # A parse worker when there is a second core: batch k+1 is parsed while batch k waits
        # for, or holds, the write turn. With several processors none has one: they fill the
        # cores themselves, and a worker for only some would leave those without it behind with
        # their share (docs/benchmarks.md, "Two processors on PostgreSQL").
        self.workers = 1 if (os.cpu_count() or 1) >= 2 and count == 1 else 0
        self.restarts = 0
        self._recent: deque[float] = deque()

    def _spawn(self, slot: _Slot, first_of_run: bool) -> None:
        slot.link.reset_heartbeat()
        slot.started_at = time.monotonic()
        slot.restarted = not first_of_run
        slot.process = self.context.Process(
            target=_processor_main,
            args=(
                self.config,
                slot.link,
                os.getpid(),
                self.workers,
                logging.getLogger().getEffectiveLevel(),
                first_of_run,  # the first of this daemon run (intake.attempts)
                (slot.index, slot.count),
            ),
            name="uketsuke-processor",
        )
        slot.process.start()

    def start(self) -> None:
        for slot in self.slots:
            self._spawn(slot, first_of_run=True)

    def notify(self, _raw_id: int | None = None) -> None:
        self.doors.stored()
        for slot in self.slots:
            slot.link.wake()

    @property
    def alive(self) -> bool:
        return all(slot.alive for slot in self.slots)

    def heartbeat_age(self) -> float | None:
        """The oldest heartbeat's age; None while a processor has not beaten since its start."""
        ages = [slot.heartbeat_age() for slot in self.slots]
        return None if None in ages else max(a for a in ages if a is not None)

    def liveness(self) -> Liveness:
        age = self.heartbeat_age()
        problem = next((p for slot in self.slots if (p := slot.problem()) is not None), None)
        return Liveness(self.alive, None if age is None else round(age, 1), self.restarts, problem)

    def check(self) -> None:
        """Called every second by the daemon: restart a dead or stalled processor. Raises
        :class:`GaveUp` after more than MAX_RESTARTS restarts within the window (all
        processors counted together)."""
        if self.slots[0].link.stopping.is_set():  # stop() sets every processor's flag
            return
        for slot in self.slots:
            if slot.process is not None:
                self._check(slot)

    def _check(self, slot: _Slot) -> None:
        if slot.alive:
            age = slot.heartbeat_age()
            if age is None or age < STALL_RESTART_SECONDS:
                return
            log.error("%s stalled: no heartbeat for %.0f s; restarting it", slot.name, age)
            slot.kill()
        else:
            slot.process.join(0)
            log.error("%s exited (code %s); restarting it", slot.name, slot.process.exitcode)
        now = time.monotonic()
        self._recent.append(now)
        while self._recent and now - self._recent[0] > RESTART_WINDOW_SECONDS:
            self._recent.popleft()
        if len(self._recent) > MAX_RESTARTS:
            raise GaveUp(
                f"processor restarted {len(self._recent) - 1} times within "
                f"{RESTART_WINDOW_SECONDS / 60:.0f} minutes and died again; giving up"
            )
        self.restarts += 1
        self._spawn(slot, first_of_run=False)

    def publish(self, home: Path) -> None:
        """The liveness for ``uketsuke status`` (another process): ``<home>/processor.json``,
        replaced atomically, private to the service user."""
        state = self.liveness()
        age = self.heartbeat_age()
        pids = [slot.process.pid if slot.process is not None else None for slot in self.slots]
        record = {
            "daemon_pid": os.getpid(),
            "processor_pid": pids[0],
            "processor_pids": pids,
            "written_at": time.time(),
            "alive": state.alive,
            "heartbeat_at": None if age is None else time.time() - age,
            "restarts": state.restarts,
            "processes": len(self.slots),
            "problem": state.problem,
        }
        path = home / STATE_FILE
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        os.replace(temporary, path)

    def stop(self) -> None:
        """Tell every processor to finish the batch under way and stop."""
        for slot in self.slots:
            slot.link.stop()

    def close(self, timeout: float) -> None:
        """Finish the batches under way (bounded), then stop; a transaction cut off rolls back."""
        self.stop()
        deadline = time.monotonic() + timeout
        for slot in self.slots:
            if slot.process is None:
                continue
            slot.process.join(max(0.0, deadline - time.monotonic()))
            if slot.process.is_alive():  # stuck past the drain limit (it ignores SIGTERM)
                slot.kill()


def read_published(home: Path) -> dict[str, Any]:
    """``status --json``'s "processor": what the running daemon last published, or not alive
    when no daemon runs (no file, its daemon gone, or the file not refreshed for 10 s)."""
    try:
        record = json.loads((home / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"alive": False, "heartbeat_age_s": None, "restarts": 0, "processes": 0}
    fresh = time.time() - float(record.get("written_at", 0)) < 10
    running = fresh and _pid_running(int(record.get("daemon_pid", 0)))
    beat = record.get("heartbeat_at")
    return {
        "alive": bool(running and record.get("alive")),
        "heartbeat_age_s": None if beat is None else round(max(0.0, time.time() - beat), 1),
        "restarts": int(record.get("restarts", 0)),
        "processes": int(record.get("processes", 1)) if running else 0,
    }


def _pid_running(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
