"""What follows an accepted inquiry: a short ordered list of small steps (DESIGN principle 1).

``accept`` creates the incidents and queues the acknowledgment; then each step here runs once, in
the same transaction, whatever door the inquiry came through: the after-hours page (R22), the
license-key mail (R14–R16) and the staff notification (R20). A new duty is a new step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from intake.config import Config
    from intake.incidents import CreatedIncident
    from intake.models import Customer
    from intake.submission import Intake


@dataclass
class Accepted:
    """An inquiry just accepted into ``incidents`` (one per item, R3)."""

    session: Session
    config: Config
    intake: Intake
    incidents: list[CreatedIncident]
    customer: Customer | None
    now: datetime


AfterStep = Callable[[Accepted], None]


@cache
def after_accept_steps() -> tuple[AfterStep, ...]:
    """The steps, in order (imported here: each lives with the rule it implements)."""
    from intake.licensing import license_requests
    from responder.staffnotify import notify_staff_of_new_incidents
    from scheduler.oncall import page_oncall

    # The key mail is queued before staff are told, so their notification shows its due time.
    return (page_oncall, license_requests, notify_staff_of_new_incidents)
