"""Incident lifecycle timers (R17, R18): auto-close 120 hours after an unanswered staff answer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config


def auto_close_due(sessions: sessionmaker[Session], config: Config, now: datetime) -> int:
    """R18: close each incident whose auto-close timer is due, with a notice to the customer."""
    return 0
