"""The staff reply key (R21): what keys the staff reply tokens (``intake.stafftoken``).

``[staff] reply_key`` (or ``UKETSUKE_STAFF_REPLY_KEY``), or else a key made once and kept in
``<home>/staff-reply.key`` (0600), as the web secret is (``intake.closelink.web_secret``). Never
empty: each account's own secret is in the database, and a token keyed with it alone could be
forged by whoever reads the database.
"""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from intake.config import Config

KEY_FILE = "staff-reply.key"


def reply_key(config: Config) -> str:
    """``staff.reply_key``, or the key kept in ``<home>/staff-reply.key`` (made on first use)."""
    if config.staff.reply_key:
        return config.staff.reply_key
    path = config.home_path / KEY_FILE
    try:
        kept = path.read_text("ascii").strip()
    except FileNotFoundError:
        kept = ""
    if kept:
        return kept
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made by another process at the same moment
        return path.read_text("ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key)
    return key
