"""What the daemon's main process and its processor process share (docs/architecture.md,
"Supervision"): wake-ups, the stop flag, when a door last stored mail, and the heartbeat.

Nothing here can block the main process whatever state the processor is in. Wake-ups are bytes
written without blocking into a pipe (a full pipe already means "wake up"); the flag, the door
time and the heartbeat are plain doubles in shared memory, without locks. A multiprocessing
``Event`` is not used: its ``set`` waits for every sleeper to wake, and a sleeper killed with
``kill -9`` never does, which froze the doors' event loop.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

_WAKE = b"w"


class DoorActivity:
    """When a door last stored a message: one double in shared memory, written by the daemon's
    doors and read by the processor process (CLOCK_MONOTONIC is the same in both)."""

    def __init__(self, context: Any) -> None:
        self._at = context.Value("d", 0.0, lock=False)

    def stored(self) -> None:
        self._at.value = time.monotonic()

    def quiet_for(self) -> float:
        return time.monotonic() - float(self._at.value)


class ProcessorLink:
    """Created in the main process, handed to each processor process it spawns (the pipe and
    the shared values survive a restart of the processor). One link a processor: two readers
    of one pipe could each see a wake-up that only one of them gets, and the other would block
    reading it. The doors' activity is shared by every processor's link."""

    def __init__(self, context: Any, doors: DoorActivity | None = None) -> None:
        self._reader, self._writer = context.Pipe(duplex=False)
        os.set_blocking(self._writer.fileno(), False)
        self._stopping = context.Value("b", 0, lock=False)
        self.doors = doors if doors is not None else DoorActivity(context)
        self._heartbeat = context.Value("d", 0.0, lock=False)  # 0: none since (re)start

    # The main process's side.
    def wake(self) -> None:
        # Full: the processor has wake-ups enough; gone: the supervisor sees to it.
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            self._writer.send_bytes(_WAKE)

    def stop(self) -> None:
        self._stopping.value = 1
        self.wake()

    def reset_heartbeat(self) -> None:
        self._heartbeat.value = 0.0

    def heartbeat_at(self) -> float | None:
        """CLOCK_MONOTONIC of the last beat (the same clock in both processes); None if the
        processor has not beaten since it was (re)started."""
        value = float(self._heartbeat.value)
        return value or None

    # The processor's side.
    def beat(self) -> None:
        self._heartbeat.value = time.monotonic()

    @property
    def stopping(self) -> StopFlag:
        return StopFlag(self)

    @property
    def wakeups(self) -> Wakeups:
        return Wakeups(self)

    def _drain(self) -> None:
        while self._reader.poll(0):
            self._reader.recv_bytes()


class Wakeups:
    """The processor's view of the wake-ups, shaped like ``threading.Event``."""

    def __init__(self, link: ProcessorLink) -> None:
        self._link = link

    def set(self) -> None:
        self._link.wake()

    def clear(self) -> None:
        self._link._drain()

    def is_set(self) -> bool:
        return bool(self._link._reader.poll(0))

    def wait(self, timeout: float | None = None) -> bool:
        return bool(self._link._reader.poll(timeout))


class StopFlag:
    """The processor's view of the stop flag, shaped like ``threading.Event``."""

    def __init__(self, link: ProcessorLink) -> None:
        self._link = link

    def set(self) -> None:
        self._link.stop()

    def is_set(self) -> bool:
        return bool(self._link._stopping.value)

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds, ended early by the stop (wake-ups on the way are
        consumed: whoever waits here goes on working next)."""
        deadline = time.monotonic() + timeout
        while not self.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._link._reader.poll(remaining):
                self._link._drain()
        return True
