"""Time is passed in (docs/architecture.md, "Layers and imports"): rules take instants; the
daemon's clock is this object."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock standing at one instant, moved by setting ``at`` (tests drive time with it)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at
