"""Placeholder: `uketsuke audit list` is being written (issue 11)."""

from __future__ import annotations

from typing import Any


def register(commands: Any) -> None:
    """Adds no command yet."""
