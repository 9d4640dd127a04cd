"""A test-only hook that makes one stored message fail in the processor (tests/test_supervision.py).

``UKETSUKE_TEST_FAULT=KIND:MARKER`` with ``UKETSUKE_TESTING=1``: a batch holding a stored
message whose bytes contain MARKER fails before it is processed — ``raise`` raises an exception
outside every SAVEPOINT (as a bug at commit time would), ``kill`` kills the processor process
(as the kernel's OOM killer would). Without both variables nothing is ever checked.
"""

from __future__ import annotations

import os
import signal

_SETTING = os.environ.get("UKETSUKE_TEST_FAULT", "") if os.environ.get("UKETSUKE_TESTING") else ""
KIND, _, _MARKER = _SETTING.partition(":")
MARKER = _MARKER.encode()


class InjectedFault(Exception):
    pass


def before_processing(batch: list[tuple[int, bytes | None, str | None]]) -> None:
    if not MARKER:
        return
    if any(data is not None and MARKER in data for _, data, _ in batch):
        if KIND == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise InjectedFault("injected for a test")
