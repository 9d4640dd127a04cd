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
