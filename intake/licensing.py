"""License-key reissue requests (R14–R16): eligibility and the key mail's schedule."""

from __future__ import annotations

from intake.accepted import Accepted


def license_requests(accepted: Accepted) -> None:
    """R14/R15: queue the key mail of an eligible license request, or say why not."""
