"""Staff reply addresses (R20, R21): ``support+S.N.DAY.MAC@example.jp``, one per staff and incident.

The token names the staff account (S), the incident (N) and the day it was issued (DAY,
``YYYYMMDD`` in Japan time), and carries an HMAC-SHA256 over them and the account's address,
keyed with the staff reply key (``staff.reply_key``, or the key kept in ``<home>``:
``intake.replykey``) and the account's own secret (made at ``uketsuke staff add``, never shown).
A forged, altered or foreign token fails, and so does every token when the key is empty: the
account's secret alone, which the database holds, never makes one. Removing an account or
changing the key voids its tokens; a token expires ``staff.token_days`` after its day
(:func:`expired`), and a token of the old form without a day (``S.N.MAC``) counts as expired.
Pure: no database, no clock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date, datetime

MAC_HEX = 20  # 80 bits: an attacker guesses one in 2**80 per try
_TOKEN = re.compile(rf"(\d{{1,12}})\.(\d{{1,12}})\.(?:(\d{{8}})\.)?([0-9a-f]{{{MAC_HEX}}})")


@dataclass(frozen=True)
class ReplyToken:
    staff_id: int
    incident_id: int
    mac: str
    issued: str | None = None  # YYYYMMDD; None: a token of the old form, without its day


def _mac(key: str, secret: str, staff_id: int, email: str, incident_id: int, issued: str) -> str:
    message = f"reply.{staff_id}.{incident_id}.{issued}.{email.lower()}".encode()
    digest = hmac.new(f"{key}\x00{secret}".encode(), message, hashlib.sha256).hexdigest()
    return digest[:MAC_HEX]


def reply_address(
    support_address: str,
    key: str,
    secret: str,
    staff_id: int,
    email: str,
    incident_id: int,
    issued: date,
) -> str:
    """The Reply-To of a staff notification issued on ``issued`` (its day in Japan): the support
    address with the token. ``key`` must not be empty (``intake.replykey``)."""
    if not key:
        raise ValueError("a staff reply token needs the reply key")
    local, _, domain = support_address.rpartition("@")
    day = f"{issued:%Y%m%d}"
    mac = _mac(key, secret, staff_id, email, incident_id, day)
    return f"{local}+{staff_id}.{incident_id}.{day}.{mac}@{domain}"


def token_in(address: str) -> ReplyToken | None:
    """The token of a sub-address (``local+TOKEN@domain``), or None."""
    local = address.rpartition("@")[0]
    _, plus, tag = local.partition("+")
    match = _TOKEN.fullmatch(tag.lower()) if plus else None
    if match is None:
        return None
    return ReplyToken(int(match.group(1)), int(match.group(2)), match.group(4), match.group(3))


def base_address(address: str) -> str:
    """``support+TOKEN@example.jp`` → ``support@example.jp`` (lower-case)."""
    local, at, domain = address.lower().rpartition("@")
    return f"{local.partition('+')[0]}{at}{domain}" if at else address.lower()


def verifies(token: ReplyToken, key: str, secret: str, email: str) -> bool:
    """Whether the token was made for this staff account with this key (constant-time
    comparison). Never without a key (the account's secret alone is in the database), and never a
    token of the old form (without its day)."""
    if not key or token.issued is None:
        return False
    expected = _mac(key, secret, token.staff_id, email, token.incident_id, token.issued)
    return hmac.compare_digest(expected, token.mac)


def expired(token: ReplyToken, today: date, days: int) -> bool:
    """Whether the token is too old on ``today`` (Japan): it works on the day it was issued and
    until ``days`` days after it, never longer (issued on 11-24 with 30 days: through 12-23). A
    token without its day (the old form) is expired."""
    if token.issued is None:
        return True
    try:
        issued = datetime.strptime(token.issued, "%Y%m%d").date()
    except ValueError:
        return True
    return (today - issued).days >= days
