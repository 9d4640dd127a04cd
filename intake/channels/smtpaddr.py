"""The address of an SMTP command (MAIL FROM, RCPT TO), parsed as aiosmtpd parses it, once.

aiosmtpd's ``SMTP._getaddr`` defines a ``typing.Protocol`` class at every call, for its type
hints only: creating that class took about 6 % of the event loop's samples in the SMTP phase of
``bench/intake.py`` (py-spy; docs/benchmarks.md, "Issue 14, sixth pass"). :func:`parse_address`
does the same parse with the same stdlib header parser and remembers the answer for the texts
seen last: most commands name one of a few recipients, and a customer writes again.
"""

from __future__ import annotations

from email._header_value_parser import get_addr_spec, get_angle_addr  # as aiosmtpd does
from email.errors import HeaderParseError
from functools import lru_cache

REMEMBERED = 4096  # command texts; each a few hundred bytes at most


@lru_cache(maxsize=REMEMBERED)
def parse_address(arg: str) -> tuple[str | None, str | None]:
    """(address, the rest of the command: its parameters) as aiosmtpd's ``_getaddr`` returns
    them before its local-part limit; ``("", "")`` for no text, ``(None, None)`` for a text that
    is no address."""
    if not arg:
        return "", ""
    try:
        if arg.lstrip().startswith("<"):
            address, rest = get_angle_addr(arg)
        else:
            address, rest = get_addr_spec(arg)
    except HeaderParseError:
        return None, None
    return address.addr_spec, rest


def within_local_part_limit(address: str, limit: int) -> bool:
    """aiosmtpd's ``local_part_limit`` (0: none)."""
    return not limit or len(address.rpartition("@")[0]) <= limit
