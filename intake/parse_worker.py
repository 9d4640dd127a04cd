"""The parse worker: stored messages parsed ahead of the processor, in a process of its own.

Kept apart from the processor so the worker imports the parser and nothing else (no
SQLAlchemy, no aiosmtpd, no OCR): the idle daemon's memory is the sum of its processes'.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from intake.intakefirst import PARSE_NICE  # intake first: the doors and the processor first
from intake.mail.parse import NotAMessage, ParseContext, ParsedMessage, parse_message
from intake.spool import open_raw

Fetched = tuple[int, bytes | None, str | None]  # raw id, bytes or spool file name


def exit_with_parent(parent: int) -> None:
    """Pool workers end when the daemon does, even after ``kill -9`` (no orphaned parsers)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def leave_stopping_to_the_daemon() -> None:
    """Ctrl-C in a terminal (``make run``) and ``timeout`` signal the whole process group; the
    daemon's own processes would die mid-batch with a traceback each. They ignore SIGINT and
    SIGTERM instead: the main process tells them to stop and waits for them (its drain limit),
    and kills what is stuck; systemd's unit signals the main process only (KillMode=mixed)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def parse_worker_init(parent: int) -> None:
    leave_stopping_to_the_daemon()
    exit_with_parent(parent)
    os.nice(PARSE_NICE)


def parse_many(
    items: list[Fetched], context: ParseContext, spool: Path
) -> dict[int, ParsedMessage]:
    """Parse (maybe in a worker process); a message that is not mail is left for the pipeline
    to hold, one whose spool file cannot be read (another instance's spool, a file lost) for
    the pipeline to fail alone (R29): never the whole batch. Spooled messages are mapped, not
    read whole."""
    parsed: dict[int, ParsedMessage] = {}
    for raw_id, data, name in items:
        try:
            with open_raw(spool, data, name) as content:
                parsed[raw_id] = parse_message(content, context)
        except (NotAMessage, OSError):
            continue
    return parsed
