"""Text hygiene shared by every door and every outgoing mail.

Control characters (NUL and the other C0/C1 controls but tab and line breaks) are removed from
what is stored as text and from what is sent: PostgreSQL refuses NUL in text columns, and a
customer's acknowledgment should never carry them. The raw bytes stay as received (R29).
"""

from __future__ import annotations

import re

_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
# One address as people type it (a staff account, a form's reply address): a local part without
# spaces or specials, then a domain of two or more labels; compared case-insensitively.
EMAIL_ADDRESS = re.compile(rf"[^\s@<>()\[\],;:\"\\]+@{_LABEL}(?:\.{_LABEL})+", re.IGNORECASE)


def strip_controls(text: str) -> str:
    """``text`` without control characters other than tab, LF and CR."""
    return _CONTROLS.sub("", text) if _CONTROLS.search(text) else text


def strip_controls_opt(text: str | None) -> str | None:
    return None if text is None else strip_controls(text)


def elapsed(seconds: float) -> str:
    """A span as operators read it: "45 s", "11 min", "8 h" or "8 h 5 min"."""
    seconds = max(int(seconds), 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    hours, minutes = seconds // 3600, seconds % 3600 // 60
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
