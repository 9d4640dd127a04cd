"""The audit log (R26): staff views and actions, and notable automatic decisions.

One row per entry, added in the caller's transaction. What it records is who (``actor``: a staff
member's address, ``cli``, ``web``, or ``uketsuke`` for the product's own decisions), what
(``action``) and on what (``target``, e.g. ``incident:12``, ``raw:3``, ``outbox:5``,
``staff:a@example.jp``), never a message body, a customer's address or a password.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from intake.models import AuditEntry, utcnow

AUTOMATIC = "uketsuke"  # the actor of the product's own decisions


def audit(
    session: Session,
    action: str,
    *,
    actor: str = AUTOMATIC,
    target: str | None = None,
    incident: int | None = None,
    at: datetime | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Add one audit row; ``incident`` (a number) is short for ``target="incident:N"``;
    ``at`` defaults to now."""
    session.add(
        AuditEntry(
            at=at or utcnow(),
            actor=actor,
            action=action,
            target=f"incident:{incident}" if incident is not None else target,
            detail=dict(detail or {}),
        )
    )
