"""Safe access to headers of a ``compat32`` message: always a str, never an exception.

``compat32`` hands back an ``email.header.Header`` object for some raw 8-bit values; intake reads
every header through :func:`header` so such mail is read, not dropped (R29).
"""

from __future__ import annotations

from email.message import Message


def header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # noqa: BLE001 - a malformed header must not stop the parse
        return ""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except Exception:  # noqa: BLE001
        return ""


def headers(message: Message, name: str) -> list[str]:
    try:
        values = message.get_all(name) or []
    except Exception:  # noqa: BLE001
        return []
    out = []
    for value in values:
        try:
            out.append(value if isinstance(value, str) else str(value))
        except Exception:  # noqa: BLE001, PERF203
            continue
    return out
