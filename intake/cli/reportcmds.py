"""Placeholder: the commands of this module are being written (issue 10)."""

from __future__ import annotations

from typing import Any


def register(commands: Any) -> None:
    """Adds no command yet."""
