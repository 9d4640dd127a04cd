"""SQLite's WAL copied into the database file by a thread of its own, beside processing.

The daemon's commits never checkpoint (``db.make_engine(autocheckpoint=False)``: no stall inside
a writer's turn before a 250). The processor process runs this thread instead: every
``interval`` seconds a PASSIVE checkpoint, which neither waits for nor blocks writers and
readers. In a thread, SQLite's page copying and file sync (the GIL is released around them)
overlap the processor's work instead of pausing it between turns. While the doors are busy it
waits (intake first: ``intake.intakefirst.checkpoint_may_run``), a few seconds at most: its
copying and syncing took the cores and the disk from the doors' commits. Other databases: no
thread.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine

from intake import db
from intake.intakefirst import checkpoint_may_run
from intake.processor_link import DoorActivity

log = logging.getLogger("uketsuke.processor")

CHECKPOINT_SECONDS = 0.5


class WalCheckpointer:
    def __init__(
        self,
        engine: Engine,
        interval: float = CHECKPOINT_SECONDS,
        doors: DoorActivity | None = None,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.doors = doors
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.done = 0  # checkpoints run (the tests read it)

    def start(self) -> WalCheckpointer:
        if self.engine.dialect.name == "sqlite" and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        since = time.monotonic()  # the last checkpoint
        while not self._stop.wait(self.interval):
            if checkpoint_may_run(self.doors, time.monotonic() - since - self.interval):
                self.once()
                since = time.monotonic()
        self.once()  # the last one at stop: the file is whole for a backup or a copy

    def once(self) -> None:
        try:
            db.checkpoint(self.engine)
            self.done += 1
        except Exception:  # noqa: BLE001 - harmless: the next round tries again
            log.debug("WAL checkpoint failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
