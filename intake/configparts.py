"""The plain tables of the configuration: SMTP, web, outbox, staff, intake (one schema,
checked by :mod:`intake.schema`; :mod:`intake.config` composes them with the profiles)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from intake.schema import Model, Range

__all__ = [
    "AlertsConfig",
    "IntakeConfig",
    "OutboxConfig",
    "SmtpConfig",
    "StaffConfig",
    "WebConfig",
]


@dataclass(frozen=True, kw_only=True)
class SmtpConfig(Model):
    host: str = "127.0.0.1"
    port: Annotated[int, Range(ge=0, le=65535)] = 2525
    max_message_size: Annotated[int, Range(ge=1024)] = 25 * 1024 * 1024
    tls_cert: str = ""
    tls_key: str = ""


@dataclass(frozen=True, kw_only=True)
class WebConfig(Model):
    host: str = "127.0.0.1"
    port: Annotated[int, Range(ge=0, le=65535)] = 8080
    secret_key: str = ""
    # The address customers reach the web app at (links in mails); empty: http://host:port.
    public_url: str = ""
    # R17: a one-click close link in an answer mail works this many days (and once).
    close_link_days: Annotated[int, Range(ge=1)] = 30
    # X-Forwarded-* headers are trusted from this many proxies in front; 0: none (direct).
    proxy_hops: Annotated[int, Range(ge=0, le=5)] = 0
    # R30: form submissions per hour, per client IP and per email address.
    submissions_per_ip_per_hour: Annotated[int, Range(ge=1)] = 20
    submissions_per_address_per_hour: Annotated[int, Range(ge=1)] = 5
    # R26: a staff session ends after this many minutes without a request.
    staff_session_minutes: Annotated[int, Range(ge=1)] = 30
    # R26: failed staff logins allowed per address and per IP in 15 minutes.
    login_attempts_per_15_minutes: Annotated[int, Range(ge=1)] = 5
    # GET /metrics in the Prometheus text format; with a token, only with
    # "Authorization: Bearer TOKEN" (UKETSUKE_METRICS_TOKEN overrides it).
    metrics: bool = False
    metrics_token: str = ""

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@dataclass(frozen=True, kw_only=True)
class StaffConfig(Model):
    """Staff answering by mail (R20, R21)."""

    # Keys the reply-address tokens (HMAC-SHA256, with each account's own secret). Empty: a key
    # made once in <home>/staff-reply.key (intake.replykey). UKETSUKE_STAFF_REPLY_KEY overrides it.
    reply_key: str = ""
    # A reply token works this many days from the day (Japan time) its notification was issued.
    token_days: Annotated[int, Range(ge=1)] = 30
    # Staff domains whose DKIM signature authenticates a staff answer without a token.
    dkim_domains: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class OutboxConfig(Model):
    transport: Literal["maildir", "smtp"] = "maildir"
    maildir: str = ""
    relay_host: str = ""
    relay_port: Annotated[int, Range(ge=1, le=65535)] = 587
    relay_starttls: bool = True
    relay_user: str = ""
    relay_password: str = ""
    max_attempts: Annotated[int, Range(ge=1)] = 12
    auto_mails_per_sender_per_hour: Annotated[int, Range(ge=0)] = 5


@dataclass(frozen=True, kw_only=True)
class IntakeConfig(Model):
    held_expiry_days: Annotated[int, Range(ge=1)] = 14
    reopen_window_days: Annotated[int, Range(ge=0)] = 0
    keep_raw_mail_days: Annotated[int, Range(ge=0)] = 0
    reply_wait_seconds: Annotated[int, Range(ge=0)] = 60
    # Processor processes turning stored mail into incidents; 0: automatic (Config.processors).
    processors: Annotated[int, Range(ge=0, le=8)] = 0


@dataclass(frozen=True, kw_only=True)
class AlertsConfig(Model):
    """When something stops moving (``uketsuke health``; docs/operations.md, "Monitoring")."""

    # A mailbox without a successful poll, a message waiting to be processed, or a due outbox
    # mail older than this is CRITICAL (WARNING from half of it on), and an alarm (``ops_alert``).
    # Minutes, fractions allowed (tests use a few seconds).
    stuck_minutes: Annotated[float, Range(ge=0.05)] = 15
    # Who hears of it (``ops_alert``, ``ops_resolved``); empty: the on-call addresses of every
    # profile.
    ops_addresses: list[str] = field(default_factory=list)
