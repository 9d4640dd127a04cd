"""The daemon's handle on its processor process, kept apart from the processor itself.

The main process (the doors) imports this module only: the pipeline, the scheduler and the
responder load in the processor process, not in the daemon's (the idle daemon's memory is the sum
of its processes, ``bench/idle_rss.py``).
"""

from __future__ import annotations

import logging
import os
import time
from multiprocessing import get_context
from typing import Any

from intake.config import Config


class DoorActivity:
    """When a door last stored a message: one double in shared memory, written by the daemon's
    doors and read by the processor process (CLOCK_MONOTONIC is the same in both)."""

    def __init__(self, context: Any) -> None:
        self._at = context.Value("d", 0.0, lock=False)

    def stored(self) -> None:
        self._at.value = time.monotonic()

    def quiet_for(self) -> float:
        return time.monotonic() - float(self._at.value)


def _processor_main(*args: Any) -> None:
    """The spawned process's entry: the processor's imports happen there, not here."""
    from intake.processor import run_processor_process

    run_processor_process(*args)


class ProcessorProcess:
    """The daemon's handle on the processor process (spawned: the daemon runs threads)."""

    def __init__(self, config: Config) -> None:
        context = get_context("spawn")
        self.wake = context.Event()
        self.stopping = context.Event()
        self.doors = DoorActivity(context)
        # A parse worker when there is a second core: batch k+1 is parsed while batch k waits
        # for, or holds, the write turn.
        workers = 1 if (os.cpu_count() or 1) >= 2 else 0
        self.process = context.Process(
            target=_processor_main,
            args=(
                config,
                self.wake,
                self.stopping,
                os.getpid(),
                workers,
                logging.getLogger().getEffectiveLevel(),
                self.doors,
            ),
            name="uketsuke-processor",
        )

    def start(self) -> None:
        self.process.start()

    def notify(self, _raw_id: int | None = None) -> None:
        self.doors.stored()
        self.wake.set()

    def close(self, timeout: float) -> None:
        """Finish the batch under way (bounded), then stop; its transaction rolls back if cut."""
        self.stopping.set()
        self.wake.set()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
