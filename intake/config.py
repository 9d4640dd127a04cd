"""Configuration: one TOML file, one schema, built-in defaults.

The schema below is the single source of truth: ``uketsuke run`` and ``uketsuke check-config``
validate with it, :func:`builtin_profiles` is the only place the shipped profiles are written, and
``deploy/uketsuke.example.toml`` documents every key with the same values (a test compares the
file's raw tables with :func:`as_data` of the defaults, key by key). Secrets come only from the file
or the environment, never from code.

The models are frozen dataclasses checked on construction by :mod:`intake.schema` (not pydantic,
for start-up time). Every problem is collected, so one run of ``uketsuke check-config`` lists them
all, one ``key: what is wrong`` line each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from intake.configchecks import (
    WEEKDAYS,
    check_closures,
    check_holidays,
    check_periods,
    parse_hhmm,
    parse_month_day,
)
from intake.configdoors import FaxGatewayConfig, ImapConfig
from intake.configparts import (
    AlertsConfig,
    IntakeConfig,
    OutboxConfig,
    SmtpConfig,
    StaffConfig,
    WebConfig,
)
from intake.incidenttag import DEFAULT_PREFIX
from intake.schema import Check, ConfigError, Model, NonEmpty, Range, as_data, build
from scheduler.calendar import BusinessCalendar, HoursVersion, RecurringClosure


@dataclass(frozen=True, kw_only=True)
class HoursConfig(Model):
    """One dated version of a profile's business hours (R13)."""

    effective_from: date
    weekdays: Annotated[
        list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]], NonEmpty()
    ] = field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    periods: Annotated[list[tuple[str, str]], NonEmpty(), Check(check_periods)]


@dataclass(frozen=True, kw_only=True)
class ProfileConfig(Model):
    """A set of terms: addresses, hours, holidays, cutoff, templates (a profile, docs/rules.md)."""

    display_name: str = ""
    intake_addresses: list[str] = field(default_factory=list)
    support_address: str = ""
    # Staff addresses without an account: they get staff mail without a reply token (read, not
    # answer, by mail), and their mail is never taken for a customer's inquiry (R20, R21).
    staff_addresses: list[str] = field(default_factory=list)
    # Who handles a new incident: nobody until the desk decides, or in turn among the profile's
    # staff who are not away (docs/staff.md, "担当と二重対応防止").
    auto_assign: Literal["none", "round_robin"] = "none"
    oncall_addresses: list[str] = field(default_factory=lambda: ["oncall@example.jp"])
    hours: Annotated[list[HoursConfig], NonEmpty()]
    company_holidays: Annotated[list[tuple[str, str]], Check(check_holidays)] = field(
        default_factory=lambda: [("12-29", "01-03"), ("08-13", "08-16")]
    )
    closures: Annotated[list[tuple[date, date]], Check(check_closures)] = field(
        default_factory=list
    )
    license_cutoff: Annotated[str, Check(parse_hhmm)] = "17:00"
    tag_prefix: str = DEFAULT_PREFIX
    outgoing_charset: Literal["utf-8", "iso-2022-jp"] = "utf-8"
    auto_close_hours: Annotated[int, Range(ge=1)] = 120
    require_active_support: bool = False
    # R14-R16: the command that prints a reissued license key (request as JSON on stdin);
    # empty: key requests are left to staff (nothing is sent automatically).
    license_issuer: list[str] = field(default_factory=list)
    # R15/R24: the product whose support period makes a customer eligible; empty: any period
    # of this profile.
    license_product: str = ""
    # R23: after-hours work billed at this rate per billing_unit_minutes, time rounded up.
    after_hours_rate_jpy: Annotated[int, Range(ge=0)] = 3000
    billing_unit_minutes: Annotated[int, Range(ge=1)] = 30
    # The desk (docs/staff.md): a staff answer waits this long in the outbox, so that it can be
    # taken back (0: sent at once); answers of these kinds wait for an approver first.
    answer_hold_seconds: Annotated[int, Range(ge=0, le=86400)] = 60
    approval_for: list[Literal["attachments", "license", "out_of_scope"]] = field(
        default_factory=list
    )
    # Response targets in business hours (docs/staff.md, "Response targets"); 0: no target.
    first_response_hours: Annotated[int, Range(ge=0, le=2000)] = 8
    follow_up_response_hours: Annotated[int, Range(ge=0, le=2000)] = 16
    warn_before_minutes: Annotated[int, Range(ge=0, le=6000)] = 60

    def calendar(self) -> BusinessCalendar:
        """The pure business calendar (R9, R12, R13) these terms describe (built once: it is
        asked for every acknowledgment)."""
        built: BusinessCalendar | None = self.__dict__.get("_calendar")
        if built is None:
            built = self.__dict__["_calendar"] = self._build_calendar()
        return built

    def _build_calendar(self) -> BusinessCalendar:
        versions = tuple(
            HoursVersion(
                effective_from=h.effective_from,
                periods=tuple((parse_hhmm(a), parse_hhmm(b)) for a, b in h.periods),
                weekdays=frozenset(WEEKDAYS.index(d) for d in h.weekdays),
            )
            for h in sorted(self.hours, key=lambda h: h.effective_from)
        )
        return BusinessCalendar(
            hours=versions,
            recurring_closures=tuple(
                RecurringClosure(parse_month_day(a), parse_month_day(b))
                for a, b in self.company_holidays
            ),
            closures=tuple(self.closures),
            license_cutoff=parse_hhmm(self.license_cutoff),
        )


def _get(entry: object, name: str) -> Any:
    """A field of a checked table, or of one that failed its checks (still a dict)."""
    return entry.get(name) if isinstance(entry, dict) else getattr(entry, name, None)


@dataclass(frozen=True, kw_only=True)
class Config(Model):
    """The whole configuration. Every default here is the documented built-in default."""

    home: str = "./var"
    database_url: str = ""
    default_profile: str = "helpdesk"
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    web: WebConfig = field(default_factory=WebConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    staff: StaffConfig = field(default_factory=StaffConfig)
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    profiles: dict[str, ProfileConfig] = field(default_factory=lambda: builtin_profiles())
    fax_gateways: list[FaxGatewayConfig] = field(default_factory=list)
    imap: list[ImapConfig] = field(default_factory=list)

    def _problems(self) -> list[str]:
        if not isinstance(self.profiles, dict):
            return []
        problems = [] if self.profiles else ["profiles: at least one profile is needed"]
        seen: dict[str, str] = {}
        for name, profile in self.profiles.items():
            for address in getattr(profile, "intake_addresses", []):
                if address.lower() in seen:
                    problems.append(
                        f"profiles: {address} is an intake address of {seen[address.lower()]} "
                        f"and {name}"
                    )
                seen[address.lower()] = name
        return problems + self._reference_problems() + self._processor_problems()

    def _processor_problems(self) -> list[str]:
        count = self.intake.processors
        if count > 1 and self.is_sqlite:
            return [
                f"intake.processors: {count} processors need PostgreSQL "
                "(SQLite takes one writer at a time: set 0 or 1)"
            ]
        return []

    def _reference_problems(self) -> list[str]:
        """Every profile named (default, mailboxes, gateways) exists; mailbox names are unique."""
        known = ", ".join(sorted(self.profiles))
        problems = []
        if isinstance(self.default_profile, str) and self.default_profile not in self.profiles:
            problems.append(
                f"default_profile: unknown profile {self.default_profile!r} (known: {known})"
            )
        names: set[str] = set()
        for table in ("imap", "fax_gateways"):
            entries = getattr(self, table)
            for index, entry in enumerate(entries if isinstance(entries, list) else []):
                name, profile = _get(entry, "name"), _get(entry, "profile")
                if isinstance(profile, str) and profile and profile not in self.profiles:
                    problems.append(
                        f"{table}.{index}.profile: unknown profile {profile!r} for {name} "
                        f"(known: {known})"
                    )
                if table == "imap" and isinstance(name, str):
                    if name in names:
                        problems.append(f"imap.{index}.name: a second mailbox named {name!r}")
                    names.add(name)
        return problems

    @property
    def home_path(self) -> Path:
        return Path(self.home)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home_path / 'uketsuke.db').as_posix()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.partition(":")[0].split("+")[0] == "sqlite"

    @property
    def processors(self) -> int:
        """How many processor processes the daemon runs: ``intake.processors`` when set;
        automatically 2 on PostgreSQL with two or more cores (one processor is bound by its own
        CPU there: docs/benchmarks.md, "Two processors on PostgreSQL"), else 1."""
        if self.intake.processors:
            return self.intake.processors
        return 2 if not self.is_sqlite and (os.cpu_count() or 1) >= 2 else 1

    @property
    def sqlite_path(self) -> Path | None:
        """The database file when the database is SQLite on a file (not ``:memory:``)."""
        _, sep, rest = self.effective_database_url.partition("://")
        if not self.is_sqlite or not sep or not rest.startswith("/"):
            return None
        path = rest[1:].partition("?")[0]
        return Path(path) if path and path != ":memory:" else None

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
        """The profile that owns an intake address (SMTP recipients map to profiles), a
        sub-address of it (``support+TOKEN@…``, staff reply addresses, R20) included."""
        local, at, domain = address.lower().rpartition("@")
        wanted = f"{local.partition('+')[0]}{at}{domain}" if at else address.lower()
        for name, profile in self.profiles.items():
            if wanted in (a.lower() for a in profile.intake_addresses):
                return name
        return None

    def missing_secrets(self, env: dict[str, str] | None = None) -> list[str]:
        """What ``uketsuke run`` would lack from the environment: IMAP passwords, one line each."""
        return [
            f"imap.{index}.password: empty, and {variable} is not set "
            f"(mailbox {mailbox.name} cannot log in)"
            for index, mailbox in enumerate(self.imap)
            if (variable := mailbox.missing_password(env))
        ]


def builtin_profiles() -> dict[str, ProfileConfig]:
    """The two profiles the terms describe (HD and DN), on documentation-domain addresses.

    The only place they are written: the example TOML is checked against these, and the calendar
    and cutoff tests run on the calendars built from them.

    HD hours: 仕様書 4.1 as revised on 2018-11-01 (附則 第2条; the hours of the earlier versions
    are not in the terms, so by the R13 fallback this one also judges older instants). DN hours:
    2(1) gives 9:00–12:00 and 13:00–17:30 with no effective date at all (the 約款 has no 附則),
    so the one version is dated 2000-01-01, before any mail the daemon will meet: a placeholder
    for "always", not a revision date (2010-01-01, written here before, is in neither document).
    """
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
                    effective_from=date(2000, 1, 1),
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
    ("UKETSUKE_STAFF_REPLY_KEY", ("staff", "reply_key")),
    ("UKETSUKE_METRICS_TOKEN", ("web", "metrics_token")),
)


def _read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    import tomllib  # here: most commands read no file

    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None


def load_config(
    path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None
) -> Config:
    """Load the TOML file (or none: built-in defaults), then environment overrides.

    ``path`` falls back to ``UKETSUKE_CONFIG``. Raises ConfigError listing every problem, each a
    one-line message naming the key and what is wrong.
    """
    env = dict(os.environ) if env is None else env
    path = path or env.get("UKETSUKE_CONFIG") or None
    data = _read_toml(path) if path else {}
    if "profiles" in data and isinstance(data["profiles"], dict):
        builtins = {k: as_data(v) for k, v in builtin_profiles().items()}
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
    config: Config = build(Config, data)
    return config
