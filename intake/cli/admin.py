"""Operator commands: run, init-db, migrate, check-config, status, customers import.

Handlers import SQLAlchemy, the models and the daemon in their bodies (start-up rule in
``intake.cli.common``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intake.cli.common import (
    CliError,
    add_config_option,
    config_from,
    database_label,
    engine_from,
    print_json,
    unavailable,
)

if TYPE_CHECKING:
    from intake.config import Config


def register(commands: Any) -> None:
    run = commands.add_parser("run", help="the daemon (SMTP, IMAP, web, scheduler)")
    add_config_option(run)
    run.add_argument(
        "--no-web", action="store_true", help="serve no web port (forms, dashboard, close links)"
    )
    run.set_defaults(handler=run_daemon)

    for name in ("init-db", "migrate"):
        sub = commands.add_parser(name, help="create or upgrade the schema")
        add_config_option(sub)
        sub.set_defaults(handler=run_migrate)

    check = commands.add_parser("check-config", help="validate, print what would run")
    add_config_option(check)
    check.set_defaults(handler=run_check_config)

    status = commands.add_parser("status", help="counts: raw, incidents, held, ignored, outbox")
    add_config_option(status)
    status.add_argument("--json", action="store_true", help="one JSON object")
    status.set_defaults(handler=run_status)

    health = commands.add_parser(
        "health", help="is every part moving? one line each; exit 0 OK, 1 WARNING, 2 CRITICAL"
    )
    add_config_option(health)
    health.add_argument("--json", action="store_true", help="one JSON object")
    health.set_defaults(handler=run_health)

    backup = commands.add_parser(
        "backup", help="a consistent copy of a running SQLite database and the spool"
    )
    add_config_option(backup)
    backup.add_argument("dest", metavar="DEST", type=Path, help="a new (or empty) folder")
    backup.set_defaults(handler=run_backup)

    customers = commands.add_parser("customers", help="customer registry")
    add_config_option(customers)
    actions = customers.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    imp = actions.add_parser("import", help="load customers and support contracts from CSV")
    add_config_option(imp)
    imp.add_argument("file", metavar="FILE.csv", type=Path)
    imp.set_defaults(handler=run_customers_import)


def run_daemon(args: argparse.Namespace) -> int:
    from intake.daemon import SchemaNotReady, run

    try:
        return run(config_from(args), web=not args.no_web)
    except SchemaNotReady as exc:
        raise CliError(str(exc)) from None


def run_migrate(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from intake import db

    config = config_from(args)
    engine = engine_from(config, create=True)
    try:
        revision = db.upgrade(engine)
    except OperationalError as exc:
        raise unavailable(config, exc) from None
    finally:
        engine.dispose()
    print(f"schema at revision {revision}")
    return 0


def run_check_config(args: argparse.Namespace) -> int:
    """Every problem one line on stderr (exit 2); else what ``uketsuke run`` would do."""
    from intake.config import ConfigError

    try:
        config = config_from(args)
    except ConfigError as error:
        for problem in error.problems:
            print(f"uketsuke: {problem}", file=sys.stderr)
        return 2
    for line in describe(config, args.config or os.environ.get("UKETSUKE_CONFIG")):
        print(line)
    missing = config.missing_secrets()
    for problem in missing:
        print(f"uketsuke: {problem}", file=sys.stderr)
    if missing:
        return 2
    print("configuration OK")
    return 0


def describe(config: Config, path: str | None) -> list[str]:
    """What check-config prints: one line per door, store, profile and mailbox."""
    database = database_label(config)
    if config.sqlite_path is not None and not config.sqlite_path.is_file():
        database += " (not created yet: run `uketsuke migrate`)"
    smtp = config.smtp
    tls = "STARTTLS offered" if smtp.tls_cert and smtp.tls_key else "no STARTTLS"
    outbox = config.outbox
    target = (
        config.outbox_maildir.absolute()
        if outbox.transport == "maildir"
        else f"{outbox.relay_host}:{outbox.relay_port}"
    )
    lines = [
        f"config: {Path(path).absolute() if path else 'none (built-in defaults)'}",
        f"home: {config.home_path.absolute()}",
        f"database: {database}",
        f"smtp: listens on {smtp.host}:{smtp.port} (max {smtp.max_message_size} bytes, {tls})",
        f"web: listens on {config.web.host}:{config.web.port} ({config.web.base_url}/"
        f"<profile>/inquiry, /<profile>/license, /staff/; not with run --no-web)",
        f"outbox: {outbox.transport} -> {target}",
    ]
    for name, profile in config.profiles.items():
        hours = max(profile.hours, key=lambda h: h.effective_from)
        periods = ", ".join(f"{a}-{b}" for a, b in hours.periods)
        lines.append(
            f"profile {name}: intake {', '.join(profile.intake_addresses) or '-'}; "
            f"hours {periods} from {hours.effective_from}; cutoff {profile.license_cutoff}"
            + ("; new incidents assigned in turn" if profile.auto_assign == "round_robin" else "")
        )
    lines += [_mailbox_line(config, index) for index in range(len(config.imap))]
    if not config.imap:
        lines.append("imap: no mailbox to poll")
    for gateway in config.fax_gateways:
        lines.append(
            f"fax gateway {gateway.name}: mail from {', '.join(gateway.sender_addresses)} "
            f"-> profile {gateway.profile or config.default_profile}"
        )
    return lines


def _mailbox_line(config: Config, index: int) -> str:
    mailbox = config.imap[index]
    after = f"flag {mailbox.keyword}" if mailbox.after == "flag" else f"move to {mailbox.move_to}"
    if mailbox.password:
        password = "password from the file"
    else:
        state = "set" if os.environ.get(mailbox.password_variable) else "NOT SET"
        password = f"password from {mailbox.password_variable} ({state})"
    return (
        f"imap {mailbox.name}: polls {mailbox.folder} at {mailbox.host}:{mailbox.port} "
        f"({mailbox.security}) as {mailbox.username} -> profile "
        f"{mailbox.profile or config.default_profile}; then {after}; {password}"
    )


def status_counts(session: Any) -> dict[str, Any]:
    from sqlalchemy import func, select

    from intake.models import AuditEntry, Incident, OutboxMail, RawMessage
    from intake.states import OutboxState
    from responder.acks import SUPPRESSED

    raw = dict(
        session.execute(select(RawMessage.state, func.count()).group_by(RawMessage.state)).all()
    )
    outbox = dict(
        session.execute(select(OutboxMail.state, func.count()).group_by(OutboxMail.state)).all()
    )
    return {
        "raw_messages": sum(raw.values()),
        "incidents": session.scalar(select(func.count()).select_from(Incident)) or 0,
        "held": raw.get("held", 0),
        "ignored": raw.get("ignored", 0),
        "unprocessable": raw.get("unprocessable", 0),
        # Every state, so that a staff answer waiting for its approver, or taken back within
        # its hold, is counted too (docs/operations.md, "Monitoring").
        "outbox": {state.value: outbox.get(state, 0) for state in OutboxState},
        # R27: automatic mails held back by the hourly limit (each one in the audit log)
        "suppressed": session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == SUPPRESSED)
        )
        or 0,
    }


def run_status(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from intake import db
    from intake.processor_handle import read_published

    config = config_from(args)
    engine = engine_from(config)
    try:
        with db.session_factory(engine)() as session:
            counts = status_counts(session)
    except OperationalError as exc:
        raise unavailable(config, exc) from None
    # The running daemon's processor (docs/architecture.md, "Supervision"): alive, the age of
    # the oldest heartbeat in seconds (null before its first), how often one was restarted,
    # and how many processor processes it runs (0 when no daemon runs).
    counts["processor"] = read_published(config.home_path)
    if args.json:
        print_json(counts)
    else:
        for key, value in counts.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k} {v}" for k, v in value.items())
            print(f"{key}: {value}")
    return 0


def run_health(args: argparse.Namespace) -> int:
    """The parts of intake.health, one line each (or JSON); the exit status is the worst
    part's: 0 OK, 1 WARNING, 2 CRITICAL (a monitoring plugin's)."""
    from datetime import UTC, datetime

    from intake import db
    from intake.health import Level, Part, check, worst

    config = config_from(args)
    now = datetime.now(UTC)
    try:
        engine = engine_from(config)
    except CliError as exc:
        parts = [Part("database", Level.CRITICAL, str(exc)), *check(None, config, now)[1:]]
    else:
        try:
            with db.session_factory(engine)() as session:
                parts = check(session, config, now)
        finally:
            engine.dispose()
    status = worst(parts)
    if args.json:
        print_json({"status": status.name, "parts": [part.as_json() for part in parts]})
    else:
        for part in parts:
            print(part.line())
    return int(status)


def run_backup(args: argparse.Namespace) -> int:
    """SQLite: the database (online backup API), then the spool and the web secret, into DEST.
    PostgreSQL: one line saying which pg_dump command to run, exit 2."""
    from intake.backup import BackupError, backup_sqlite
    from intake.cli.common import database_label

    config = config_from(args)
    database = config.sqlite_path
    if database is None:
        raise CliError(
            f"database {database_label(config)} is PostgreSQL: back it up with "
            f"`pg_dump --format=custom --file {args.dest}/uketsuke.pgdump DATABASE_URL`, "
            f"then copy {config.home_path / 'spool'}"
        )
    try:
        copied = backup_sqlite(database, config.home_path, args.dest)
    except (BackupError, OSError) as exc:
        raise CliError(f"backup: {exc}") from None
    print(
        f"backed up {copied.database} and {copied.spool_files} spool file(s), "
        f"{copied.bytes / 1e6:.1f} MB"
    )
    return 0


def run_customers_import(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from intake import db
    from intake.customers import CustomerImportError, import_file

    config = config_from(args)
    engine = engine_from(config)
    try:
        with db.session_factory(engine).begin() as session:
            count = import_file(session, args.file, config.default_profile, config.profiles)
    except CustomerImportError as exc:
        raise CliError(f"{args.file}: {exc}; nothing imported") from None
    except OperationalError as exc:
        raise unavailable(config, exc) from None
    print(f"imported {count} customers")
    return 0
