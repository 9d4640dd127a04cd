"""Retention of closed incidents' raw mail (R26): removed after ``keep_raw_mail_days``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config


def purge_raw_mail(sessions: sessionmaker[Session], config: Config, now: datetime) -> int:
    """R26: remove the raw bytes of closed incidents' mail older than keep_raw_mail_days."""
    return 0
