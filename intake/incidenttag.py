"""The incident tag, ``[#123]``: how every mail, page and alert names an incident, and how the
parser finds the number again in a customer's subject (R19).

Pure: no I/O, so the parser, the responders and the web pages import it alike.
"""

from __future__ import annotations

import re

DEFAULT_PREFIX = "#"  # a profile's ``tag_prefix`` unless it sets one
OPEN, CLOSE = "[", "]"
# What customers' software and typing make of the tag, read as the tag too.
_WIDE_OPEN, _WIDE_CLOSE, _WIDE_HASH = "［", "］", "＃"
_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def incident_tag(number: int, prefix: str = DEFAULT_PREFIX) -> str:
    """``[#123]``, or ``[<prefix>123]`` for a profile with its own prefix."""
    return f"{OPEN}{prefix}{number}{CLOSE}"


def tag_pattern(prefix: str) -> re.Pattern[str]:
    """The incident tag in a subject: ``[#123]`` or ``[<prefix>123]`` (R19), full-width brackets
    and digits and spaces inside allowed."""
    return re.compile(
        f"[{re.escape(OPEN)}{_WIDE_OPEN}]"
        + r"\s*"
        + re.escape(prefix.strip())
        + r"\s*([0-9０-９]{1,12})\s*"
        + f"[{re.escape(CLOSE)}{_WIDE_CLOSE}]"
    )


def ticket_ref(subject: str, prefix: str) -> int | None:
    """The incident number tagged in ``subject`` (a full-width ``＃`` read as ``#``), or None."""
    match = tag_pattern(prefix).search(subject)
    if not match and "#" in prefix:
        match = tag_pattern(prefix.replace("#", _WIDE_HASH)).search(subject)
    if not match:
        return None
    return int(match.group(1).translate(_FULLWIDTH_DIGITS))
