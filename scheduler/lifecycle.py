"""Incident lifecycle timers (R18): auto-close after a staff answer the customer left unanswered.

A staff answer starts an ``auto_close`` row due ``auto_close_hours`` (120) later; a customer
message cancels it (the incident waits for staff again); an automatic reply does not (it never
reaches the incident, R27). When the row is due the incident closes and the customer is told. The
timer is a row claimed with ``FOR UPDATE SKIP LOCKED``: a restart neither loses nor repeats it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from intake.answers import close
from intake.config import Config
from intake.models import Incident
from intake.states import IncidentState
from scheduler.jobs import claimed

log = logging.getLogger("uketsuke.lifecycle")


def auto_close_due(sessions: sessionmaker[Session], config: Config, now: datetime) -> int:
    """R18: close each incident whose auto-close timer is due, with a notice to the customer."""
    closed = 0
    for session, action in claimed(sessions, "auto_close", now):
        incident = session.get(Incident, action.incident_id) if action.incident_id else None
        action.state = "done"
        action.done_at = now
        session.flush()
        if incident is not None and _silent_since_answer(incident):
            closed += close(session, config, incident, now, by="uketsuke", auto=True)
    if closed:
        log.info("auto-closed %s incidents", closed)
    return closed


def _silent_since_answer(incident: Incident) -> bool:
    """The customer wrote nothing after the last staff answer (a message cancels the timer;
    this guards a row that a concurrent follow-up could not cancel in time)."""
    answered = incident.last_staff_answer_at
    if incident.state != IncidentState.ANSWERED or answered is None:
        return False
    spoke = incident.last_customer_message_at
    return spoke is None or spoke <= answered
