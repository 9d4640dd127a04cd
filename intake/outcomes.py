"""How a message or an inquiry ends, as exceptions handled in one place (docs/architecture.md,
"The flow of one message").

The runner turns each into the stored message's state; ``accept`` raises :class:`Held` for an
inquiry it cannot accept yet (R2), whichever door it came through.
"""

from __future__ import annotations

from datetime import datetime

from intake.models import RawState


class Outcome(Exception):
    """A message's end. ``reason`` is recorded on the raw row (never a body or an address)."""

    state: RawState = RawState.PROCESSED

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason


class Processed(Outcome):
    """Done: incidents created, or a follow-up joined (the pipeline's later steps are skipped)."""


class Held(Outcome):
    """Waits for the customer (missing fields, R2) or for staff (R11, R21, R29)."""

    state = RawState.HELD


class Ignored(Outcome):
    """Stored, never answered: automatic mail and bounces (R27)."""

    state = RawState.IGNORED


class Deferred(Outcome):
    """Not yet: processed again at ``until`` (a reply waiting for the mail it answers, R19)."""

    state = RawState.RECEIVED

    def __init__(self, reason: str, until: datetime) -> None:
        super().__init__(reason)
        self.until = until
