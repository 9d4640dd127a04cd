"""Staff reply addresses (R20, R21): ``support+S.N.MAC@example.jp``, a token per staff and incident.

The token names the staff account (S) and the incident (N) and carries an HMAC-SHA256 over both
and the account's address, keyed with the configured ``staff.reply_key`` and the account's own
secret (made at ``uketsuke staff add``, never shown). A forged, altered or foreign token fails;
removing an account or changing the key voids its tokens. Pure: no database, no clock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

MAC_HEX = 20  # 80 bits: an attacker guesses one in 2**80 per try
_TOKEN = re.compile(rf"(\d{{1,12}})\.(\d{{1,12}})\.([0-9a-f]{{{MAC_HEX}}})")


@dataclass(frozen=True)
class ReplyToken:
    staff_id: int
    incident_id: int
    mac: str


def _mac(key: str, secret: str, staff_id: int, email: str, incident_id: int) -> str:
    message = f"{staff_id}.{incident_id}.{email.lower()}".encode()
    digest = hmac.new(f"{key}\x00{secret}".encode(), message, hashlib.sha256).hexdigest()
    return digest[:MAC_HEX]


def reply_address(
    support_address: str, key: str, secret: str, staff_id: int, email: str, incident_id: int
) -> str:
    """The Reply-To of a staff notification: the support address with the token."""
    local, _, domain = support_address.rpartition("@")
    mac = _mac(key, secret, staff_id, email, incident_id)
    return f"{local}+{staff_id}.{incident_id}.{mac}@{domain}"


def token_in(address: str) -> ReplyToken | None:
    """The token of a sub-address (``local+TOKEN@domain``), or None."""
    local = address.rpartition("@")[0]
    _, plus, tag = local.partition("+")
    match = _TOKEN.fullmatch(tag.lower()) if plus else None
    if match is None:
        return None
    return ReplyToken(int(match.group(1)), int(match.group(2)), match.group(3))


def base_address(address: str) -> str:
    """``support+TOKEN@example.jp`` → ``support@example.jp`` (lower-case)."""
    local, at, domain = address.lower().rpartition("@")
    return f"{local.partition('+')[0]}{at}{domain}" if at else address.lower()


def verifies(token: ReplyToken, key: str, secret: str, email: str) -> bool:
    """Whether the token was made for this staff account (constant-time comparison)."""
    expected = _mac(key, secret, token.staff_id, email, token.incident_id)
    return hmac.compare_digest(expected, token.mac)
