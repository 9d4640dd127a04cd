"""Where outgoing mail goes: a local Maildir (default) or an SMTP relay.

Maildir delivery is idempotent: a row delivered again replaces its own file, so a crash between
delivery and the database update never doubles a mail there. Through a relay a rare repeat
carries the same Message-ID (fixed when the mail was queued).
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
from pathlib import Path
from typing import Protocol

from intake.config import OutboxConfig


class Transport(Protocol):
    def deliver(self, message_id: str, sender: str, recipients: list[str], data: bytes) -> None: ...


class MaildirTransport:
    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("tmp", "new", "cur"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def filename(self, message_id: str) -> str:
        return "uketsuke." + hashlib.sha256(message_id.encode()).hexdigest()[:32]

    def deliver(self, message_id: str, sender: str, recipients: list[str], data: bytes) -> None:
        name = self.filename(message_id)
        tmp = self.root / "tmp" / name
        with open(tmp, "wb") as handle:
            handle.write(f"Return-Path: <{sender}>\r\n".encode())
            handle.write(f"Delivered-To: {', '.join(recipients)}\r\n".encode())
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.root / "new" / name)


class SmtpRelayTransport:
    """SMTP relay with STARTTLS (never a silent plaintext fallback) and AUTH when configured."""

    def __init__(self, config: OutboxConfig, timeout: float = 30) -> None:
        self.config = config
        self.timeout = timeout

    def deliver(self, message_id: str, sender: str, recipients: list[str], data: bytes) -> None:
        with smtplib.SMTP(
            self.config.relay_host, self.config.relay_port, timeout=self.timeout
        ) as smtp:
            smtp.ehlo()
            if self.config.relay_starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self.config.relay_user:
                smtp.login(self.config.relay_user, self.config.relay_password)
            smtp.sendmail(sender, recipients, data)


def make_transport(config: OutboxConfig, maildir: Path) -> Transport:
    if config.transport == "smtp":
        return SmtpRelayTransport(config)
    return MaildirTransport(maildir)
