"""What every pipeline step sees: one stored message in its transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from intake.channels.fax import FaxReading
from intake.config import Config
from intake.mail.parse import ParsedMessage
from intake.models import RawMessage

FaxReader = Callable[[bytes, str | None], FaxReading]
DnsLookup = Callable[..., bytes | None]  # dkimpy's dnsfunc(name, timeout=…) -> TXT record


@dataclass
class Context:
    config: Config
    session: Session
    raw: RawMessage
    now: datetime
    profile: str
    parse: Callable[[RawMessage], ParsedMessage]
    spool: Path
    registry: bool | None = None
    staff: frozenset[str] = frozenset()  # staff accounts' addresses, lower-case (R21)
    read_fax: FaxReader | None = None
    parsed: ParsedMessage | None = None
    dkim_dns: DnsLookup | None = None

    @property
    def message(self) -> ParsedMessage:
        """The parsed message (the ``parse`` step runs first)."""
        assert self.parsed is not None
        return self.parsed

    @property
    def reply_wait(self) -> timedelta:
        return timedelta(seconds=self.config.intake.reply_wait_seconds)
