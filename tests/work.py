"""How tests bound the work of a function without timing it: a hang detector and a call counter.

Speed is measured in bench/, never in the tests. A test counts the work instead (function calls,
deterministic) and guards what cannot be counted (a regex backtracking inside one C call) with a
hang detector whose limit is far above any honest run.
"""

from __future__ import annotations

import gc
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

HANG_LIMIT = 60


@contextmanager
def hang_detector(seconds: float = HANG_LIMIT, what: str = "the block") -> Iterator[None]:
    """Fail the test if the block has not finished after ``seconds``: a hang detector, not a
    speed limit (speed is measured in bench/). SIGALRM interrupts Python code and the re
    module's matching loop alike (the handler runs in the main thread, where pytest runs the
    test)."""

    def expired(_signum: int, _frame: object) -> None:
        pytest.fail(f"{what}: not finished after {seconds:g} s, a hang", pytrace=False)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def python_calls(function: Callable[[], object], *, c_calls: bool = False) -> int:
    """How many Python functions ``function()`` calls ("call" events of the profiler), and with
    ``c_calls`` the C functions too ("c_call" events): its work, counted, not timed. The
    previous profiler is restored afterwards."""
    events = ("call", "c_call") if c_calls else ("call",)
    calls = 0

    def count(_frame: object, event: str, _arg: object) -> None:
        nonlocal calls
        calls += event in events

    # No garbage collection while counting: a collection runs the finalizers of whatever earlier
    # tests left behind (calls that depend on which tests ran before in this worker, not on
    # ``function``). Switched off meanwhile, then as it was; not collected first: hypothesis
    # counts hundreds of examples, and a full collection each cost the suite minutes.
    enabled = gc.isenabled()
    gc.disable()
    previous = sys.getprofile()
    sys.setprofile(count)
    try:
        function()
    finally:
        sys.setprofile(previous)
        if enabled:
            gc.enable()
    return calls
