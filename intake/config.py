"""Configuration: one TOML file, one schema, built-in defaults.

The schema below is the single source of truth: ``uketsuke run`` and ``uketsuke check-config``
validate with it, and ``deploy/uketsuke.example.toml`` documents every key with the same defaults
(a test keeps the two equal). Secrets come only from the file or the environment, never from code.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from scheduler.calendar import BusinessCalendar, HoursVersion, RecurringClosure

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")


class ConfigError(Exception):
    """A configuration problem, phrased for one line on stderr: names the key and what is wrong."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _parse_hhmm(value: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", value)
    if not match:
        raise ValueError(f"invalid time {value!r} (expected HH:MM)")
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"invalid time {value!r} (expected HH:MM)")
    return time(hour, minute, second)


def _parse_month_day(value: str) -> tuple[int, int]:
    match = _MONTH_DAY.fullmatch(value)
    if not match:
        raise ValueError(f"invalid date {value!r} (expected MM-DD)")
    month, day = int(match[1]), int(match[2])
    try:
        date(2000, month, day)  # a leap year, so 02-29 is allowed
    except ValueError:
        raise ValueError(f"invalid date {value!r} (expected MM-DD)") from None
    return month, day


class HoursConfig(_Strict):
    """One dated version of a profile's business hours (R13)."""

    effective_from: date
    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"], min_length=1
    )
    periods: list[tuple[str, str]] = Field(min_length=1)

    @field_validator("periods")
    @classmethod
    def _check_periods(cls, periods: list[tuple[str, str]]) -> list[tuple[str, str]]:
        previous_end: time | None = None
        for start_s, end_s in periods:
            start, end = _parse_hhmm(start_s), _parse_hhmm(end_s)
            if start >= end:
                raise ValueError(f"period {start_s}-{end_s} ends before it starts")
            if previous_end is not None and start <= previous_end:
                raise ValueError(f"period {start_s}-{end_s} overlaps or is out of order")
            previous_end = end
        return periods


_CALENDARS: dict[int, tuple[ProfileConfig, BusinessCalendar]] = {}  # frozen profiles: by id


class ProfileConfig(_Strict):
    """A set of terms: addresses, hours, holidays, cutoff, templates (SPEC: profiles)."""

    display_name: str = ""
    intake_addresses: list[str] = Field(default_factory=list)
    support_address: str = ""
    staff_addresses: list[str] = Field(default_factory=lambda: ["staff@example.jp"])
    oncall_addresses: list[str] = Field(default_factory=lambda: ["oncall@example.jp"])
    hours: list[HoursConfig] = Field(min_length=1)
    company_holidays: list[tuple[str, str]] = Field(
        default_factory=lambda: [("12-29", "01-03"), ("08-13", "08-16")]
    )
    closures: list[tuple[date, date]] = Field(default_factory=list)
    license_cutoff: str = "17:00"
    tag_prefix: str = "#"
    outgoing_charset: Literal["utf-8", "iso-2022-jp"] = "utf-8"
    auto_close_hours: Annotated[int, Field(ge=1)] = 120
    require_active_support: bool = False

    @field_validator("license_cutoff")
    @classmethod
    def _check_cutoff(cls, value: str) -> str:
        _parse_hhmm(value)
        return value

    @field_validator("company_holidays")
    @classmethod
    def _check_holidays(cls, ranges: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for start, end in ranges:
            _parse_month_day(start)
            _parse_month_day(end)
        return ranges

    @field_validator("closures")
    @classmethod
    def _check_closures(cls, ranges: list[tuple[date, date]]) -> list[tuple[date, date]]:
        for start, end in ranges:
            if end < start:
                raise ValueError(f"closure {start}..{end} ends before it starts")
        return ranges

    def calendar(self) -> BusinessCalendar:
        """The pure business calendar (R9, R12, R13) these terms describe (built once: it is
        asked for every acknowledgment)."""
        cached = _CALENDARS.get(id(self))
        if cached is not None and cached[0] is self:
            return cached[1]
        if len(_CALENDARS) > 256:
            _CALENDARS.clear()
        built = self._build_calendar()
        _CALENDARS[id(self)] = (self, built)
        return built

    def _build_calendar(self) -> BusinessCalendar:
        versions = tuple(
            HoursVersion(
                effective_from=h.effective_from,
                periods=tuple((_parse_hhmm(a), _parse_hhmm(b)) for a, b in h.periods),
                weekdays=frozenset(WEEKDAYS.index(d) for d in h.weekdays),
            )
            for h in sorted(self.hours, key=lambda h: h.effective_from)
        )
        return BusinessCalendar(
            hours=versions,
            recurring_closures=tuple(
                RecurringClosure(_parse_month_day(a), _parse_month_day(b))
                for a, b in self.company_holidays
            ),
            closures=tuple(self.closures),
            license_cutoff=_parse_hhmm(self.license_cutoff),
        )


class SmtpConfig(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 2525
    max_message_size: Annotated[int, Field(ge=1024)] = 25 * 1024 * 1024
    tls_cert: str = ""
    tls_key: str = ""


class WebConfig(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    secret_key: str = ""


class OutboxConfig(_Strict):
    transport: Literal["maildir", "smtp"] = "maildir"
    maildir: str = ""
    relay_host: str = ""
    relay_port: Annotated[int, Field(ge=1, le=65535)] = 587
    relay_starttls: bool = True
    relay_user: str = ""
    relay_password: str = ""
    max_attempts: Annotated[int, Field(ge=1)] = 12
    auto_mails_per_sender_per_hour: Annotated[int, Field(ge=0)] = 5


class IntakeConfig(_Strict):
    held_expiry_days: Annotated[int, Field(ge=1)] = 14
    reopen_window_days: Annotated[int, Field(ge=0)] = 0
    keep_raw_mail_days: Annotated[int, Field(ge=0)] = 0
    reply_wait_seconds: Annotated[int, Field(ge=0)] = 60


class ImapConfig(_Strict):
    """An IMAP mailbox the daemon polls (R7). Stored and committed before flagged or moved (R29)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 993
    # "tls" (implicit, port 993), "starttls", or "plain" (loopback tests only; never a fallback).
    security: Literal["tls", "starttls", "plain"] = "tls"
    username: str
    # Empty: taken from UKETSUKE_IMAP_PASSWORD_<NAME> (name upper-cased, '-' and '.' as '_').
    password: str = ""
    ca_file: str = ""
    folder: str = "INBOX"
    profile: str = ""
    # After commit: "flag" sets \Seen and the keyword; "move" moves into move_to.
    after: Literal["flag", "move"] = "flag"
    keyword: str = "$Uketsuke"
    move_to: str = "uketsuke-stored"
    idle: bool = True
    poll_seconds: Annotated[int, Field(ge=1)] = 60
    batch_size: Annotated[int, Field(ge=1, le=1000)] = 50

    def secret(self, env: dict[str, str] | None = None) -> str:
        if self.password:
            return self.password
        env = dict(os.environ) if env is None else env
        key = "UKETSUKE_IMAP_PASSWORD_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper())
        return env.get(key, "")


class FaxGatewayConfig(_Strict):
    """A fax-to-mail gateway (R11): mail from these senders is a FAX inquiry."""

    name: str
    sender_addresses: list[str] = Field(min_length=1)
    profile: str = ""
    # Regular expressions with one group: the sender's fax number, searched in subject then body.
    fax_number_patterns: list[str] = Field(
        default_factory=lambda: [r"(?:from|FAX|送信元)[:：\s]*([+0-9][0-9()\- ]{6,})"]
    )

    @field_validator("fax_number_patterns")
    @classmethod
    def _check_patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
            if compiled.groups < 1:
                raise ValueError(f"pattern {pattern!r} needs a group for the fax number")
        return patterns


class Config(_Strict):
    """The whole configuration. Every default here is the documented built-in default."""

    home: str = "./var"
    database_url: str = ""
    default_profile: str = "helpdesk"
    smtp: SmtpConfig = Field(default_factory=SmtpConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    profiles: dict[str, ProfileConfig] = Field(default_factory=lambda: builtin_profiles())
    fax_gateways: list[FaxGatewayConfig] = Field(default_factory=list)
    imap: list[ImapConfig] = Field(default_factory=list)

    @field_validator("profiles")
    @classmethod
    def _check_profiles(cls, profiles: dict[str, ProfileConfig]) -> dict[str, ProfileConfig]:
        if not profiles:
            raise ValueError("at least one profile is needed")
        seen: dict[str, str] = {}
        for name, profile in profiles.items():
            for address in profile.intake_addresses:
                key = address.lower()
                if key in seen:
                    raise ValueError(f"{address} is an intake address of {seen[key]} and {name}")
                seen[key] = name
        return profiles

    @property
    def home_path(self) -> Path:
        return Path(self.home)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home_path / 'uketsuke.db').as_posix()}"

    @property
    def outbox_maildir(self) -> Path:
        return Path(self.outbox.maildir) if self.outbox.maildir else self.home_path / "mail-out"

    def profile(self, name: str | None = None) -> ProfileConfig:
        key = name or self.default_profile
        try:
            return self.profiles[key]
        except KeyError:
            known = ", ".join(sorted(self.profiles))
            raise ConfigError(f"unknown profile {key!r} (known: {known})") from None

    def fax_sender_addresses(self) -> set[str]:
        return {a.lower() for g in self.fax_gateways for a in g.sender_addresses}

    def profile_for_address(self, address: str) -> str | None:
        """The profile that owns an intake address (SMTP recipients map to profiles)."""
        wanted = address.lower()
        for name, profile in self.profiles.items():
            if wanted in (a.lower() for a in profile.intake_addresses):
                return name
        return None


def builtin_profiles() -> dict[str, ProfileConfig]:
    """The two profiles the terms describe (HD and DN), on documentation-domain addresses."""
    return {
        "helpdesk": ProfileConfig(
            display_name="ヘルプデスク・サポートサービス",
            intake_addresses=["support@example.jp"],
            support_address="support@example.jp",
            hours=[
                HoursConfig(
                    effective_from=date(2018, 11, 1),
                    periods=[("10:00", "12:00"), ("13:00", "17:00")],
                )
            ],
        ),
        "desknet": ProfileConfig(
            display_name="desknet's NEO ウェブ会議 サポート",
            intake_addresses=["neo-support@example.jp"],
            support_address="neo-support@example.jp",
            hours=[
                HoursConfig(
                    effective_from=date(2010, 1, 1),
                    periods=[("09:00", "12:00"), ("13:00", "17:30")],
                )
            ],
            require_active_support=True,
        ),
    }


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value (lists included) replaces the base value."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_ENV_OVERRIDES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("UKETSUKE_HOME", ("home",)),
    ("UKETSUKE_DATABASE_URL", ("database_url",)),
    ("UKETSUKE_SMTP_PORT", ("smtp", "port")),
    ("UKETSUKE_WEB_PORT", ("web", "port")),
    ("UKETSUKE_WEB_SECRET_KEY", ("web", "secret_key")),
    ("UKETSUKE_RELAY_PASSWORD", ("outbox", "relay_password")),
)


def _format_error(error: ValidationError) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    more = len(error.errors()) - 1
    suffix = f" (and {more} more)" if more else ""
    return f"{key}: {message}{suffix}"


def load_config(
    path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None
) -> Config:
    """Load the TOML file (or none: built-in defaults), then environment overrides.

    ``path`` falls back to ``UKETSUKE_CONFIG``. Raises ConfigError with a one-line message naming
    the key and what is wrong.
    """
    env = dict(os.environ) if env is None else env
    path = path or env.get("UKETSUKE_CONFIG") or None
    data: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    if "profiles" in data and isinstance(data["profiles"], dict):
        builtins = {k: v.model_dump(mode="json") for k, v in builtin_profiles().items()}
        data["profiles"] = builtins | {
            name: _merge(builtins.get(name, {}), table) if isinstance(table, dict) else table
            for name, table in data["profiles"].items()
        }
    for variable, key_path in _ENV_OVERRIDES:
        if env.get(variable):
            table = data
            for part in key_path[:-1]:
                table = table.setdefault(part, {})
            table[key_path[-1]] = env[variable]
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc)) from None
    if config.default_profile not in config.profiles:
        raise ConfigError(f"default_profile: unknown profile {config.default_profile!r}")
    return config
