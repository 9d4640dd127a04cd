"""The configuration's door tables: the IMAP mailboxes the daemon polls (R7) and the fax-to-mail
gateways whose mail is a FAX inquiry (R11). :mod:`intake.config` composes them with the rest
and re-exports them."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Annotated, Literal

from intake.configchecks import check_patterns, is_loopback
from intake.schema import Check, Model, NonEmpty, Pattern, Range

__all__ = ["IMAP_PASSWORD_PREFIX", "FaxGatewayConfig", "ImapConfig"]

IMAP_PASSWORD_PREFIX = "UKETSUKE_IMAP_PASSWORD_"


@dataclass(frozen=True, kw_only=True)
class ImapConfig(Model):
    """An IMAP mailbox the daemon polls (R7). Stored and committed before flagged or moved (R29)."""

    name: Annotated[str, NonEmpty(), Pattern(r"[A-Za-z0-9_.-]+", "letters, digits, . _ -")]
    host: str
    port: Annotated[int, Range(ge=1, le=65535)] = 993
    # "tls" (implicit, port 993), "starttls", or "plain" (loopback hosts only; never a fallback).
    security: Literal["tls", "starttls", "plain"] = "tls"
    username: str
    # Empty: taken from UKETSUKE_IMAP_PASSWORD_<NAME> (see password_variable).
    password: str = ""
    ca_file: str = ""
    folder: str = "INBOX"
    profile: str = ""
    # After commit: "flag" sets \Seen and the keyword; "move" moves into move_to.
    after: Literal["flag", "move"] = "flag"
    keyword: str = "$Uketsuke"
    move_to: str = "uketsuke-stored"
    idle: bool = True
    poll_seconds: Annotated[int, Range(ge=1)] = 60
    batch_size: Annotated[int, Range(ge=1, le=1000)] = 50

    def _problems(self) -> list[str]:
        if self.security == "plain" and isinstance(self.host, str) and not is_loopback(self.host):
            return [
                f'security: "plain" sends the password unencrypted; it is allowed only for a '
                f"loopback host (127.0.0.1, ::1, localhost), not {self.host!r}: use tls or starttls"
            ]
        return []

    @property
    def password_variable(self) -> str:
        """UKETSUKE_IMAP_PASSWORD_ + the name upper-cased, each character but A-Z 0-9 as ``_``."""
        return IMAP_PASSWORD_PREFIX + re.sub(r"[^A-Z0-9]", "_", self.name.upper())

    def secret(self, env: dict[str, str] | None = None) -> str:
        if self.password:
            return self.password
        env = dict(os.environ) if env is None else env
        return env.get(self.password_variable, "")

    def missing_password(self, env: dict[str, str] | None = None) -> str | None:
        """The variable to set when neither the file nor the environment gives a password."""
        return None if self.secret(env) else self.password_variable


@dataclass(frozen=True, kw_only=True)
class FaxGatewayConfig(Model):
    """A fax-to-mail gateway (R11): mail from these senders is a FAX inquiry."""

    name: str
    sender_addresses: Annotated[list[str], NonEmpty()]
    profile: str = ""
    # Regular expressions with one group: the sender's fax number, searched in subject then body.
    fax_number_patterns: Annotated[list[str], Check(check_patterns)] = field(
        default_factory=lambda: [r"(?:from|FAX|送信元)[:：\s]*([+0-9][0-9()\- ]{6,})"]
    )
