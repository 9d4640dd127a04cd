"""What every web view needs: the configuration, the database and the clock (one per app)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config
from intake.web.limits import RateLimiter
from scheduler.clock import Clock

if TYPE_CHECKING:
    from intake.pipeline import Pipeline


@dataclass
class WebContext:
    config: Config
    sessions: sessionmaker[Session]
    clock: Clock
    limiter: RateLimiter = field(default_factory=RateLimiter)
    # The daemon's processor: one line naming what is wrong, None when healthy (/healthz).
    liveness: Callable[[], str | None] | None = None
    # The daemon's processor restarts so far (/metrics).
    restarts: Callable[[], int] | None = None

    @cached_property
    def pipeline(self) -> Pipeline:
        """The daemon's own pipeline: a form submission is accepted like stored mail."""
        from intake.pipeline import Pipeline

        return Pipeline(self.config, self.sessions)


def web_context() -> WebContext:
    return current_app.extensions["uketsuke"]
