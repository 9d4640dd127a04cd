"""After-hours emergencies (R22): an urgent inquiry outside business hours is paged at once."""

from __future__ import annotations

from intake.accepted import Accepted


def page_oncall(accepted: Accepted) -> None:
    """R22: page the on-call addresses for each urgent incident received after hours."""
