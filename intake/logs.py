"""Logging as the daemon and its processor process set it up (R26: numbers, never bodies)."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Local time with its offset (2026-12-05 09:40:12+0900): unambiguous in journald, a file or a
# ticket, whatever the reader's time zone.
DATEFMT = "%Y-%m-%d %H:%M:%S%z"

# Libraries that log full addresses or message data at INFO/DEBUG (aiosmtpd's mail.log,
# imapclient), or chatter every tick (apscheduler), stay at WARNING.
QUIET = ("alembic", "apscheduler", "mail.log", "imapclient")


def configure(level: int) -> None:
    logging.basicConfig(level=level, format=FORMAT, datefmt=DATEFMT)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
