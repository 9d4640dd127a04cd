"""The customer's one-click close link (R17): signed, single-use, expiring.

Each staff answer gives the incident a fresh ``close_nonce``; the link in that answer carries the
incident number, an expiry and an HMAC-SHA256 over both and the nonce. It verifies only while the
incident still holds that nonce — a later answer or a close (by anyone) makes it void, so it
works once — and only until it expires. Opening it shows a confirmation page; only the page's
POST closes (a mail scanner's GET changes nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from intake.config import Config

KEY_FILE = "web-secret.key"
_TOKEN = re.compile(r"(\d{1,12})\.(\d{1,12})\.([0-9a-f]{32})")


def web_secret(config: Config) -> bytes:
    """``web.secret_key``, or a key made once and kept in ``<home>/web-secret.key`` (0600)."""
    if config.web.secret_key:
        return config.web.secret_key.encode()
    path = config.home_path / KEY_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made by another process at the same moment
        return Path(path).read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def _mac(key: bytes, incident_id: int, nonce: str, expires: int) -> str:
    message = f"close.{incident_id}.{nonce}.{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def close_token(key: bytes, incident_id: int, nonce: str, expires: datetime) -> str:
    stamp = int(expires.timestamp())
    return f"{incident_id}.{stamp}.{_mac(key, incident_id, nonce, stamp)}"


def close_url(config: Config, incident_id: int, nonce: str, now: datetime) -> tuple[str, datetime]:
    """The link for an answer sent at ``now``, and when it stops working."""
    expires = now + timedelta(days=config.web.close_link_days)
    token = close_token(web_secret(config), incident_id, nonce, expires)
    return f"{config.web.base_url}/close/{token}", expires


def token_incident(token: str) -> int | None:
    """The incident a token names (before it is verified), or None when it is not a token."""
    match = _TOKEN.fullmatch(token)
    return int(match.group(1)) if match else None


def verify(key: bytes, token: str, nonce: str | None, now: datetime) -> bool:
    """Whether ``token`` is a live link for an incident whose nonce is ``nonce``."""
    match = _TOKEN.fullmatch(token)
    if match is None or not nonce:
        return False
    incident_id, stamp, mac = int(match.group(1)), int(match.group(2)), match.group(3)
    if now.timestamp() > stamp:
        return False
    return hmac.compare_digest(_mac(key, incident_id, nonce, stamp), mac)
