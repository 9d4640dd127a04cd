"""Operator commands: run, init-db, migrate, check-config, status, customers import."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from intake import db
from intake.cli.common import CliError, add_config_option, config_from, engine_from, print_json
from intake.customers import CustomerImportError, import_file
from intake.models import Incident, OutboxMail, RawMessage


def register(commands: Any) -> None:
    run = commands.add_parser("run", help="the daemon (SMTP, IMAP, web, scheduler)")
    add_config_option(run)
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
        return run(config_from(args))
    except SchemaNotReady as exc:
        raise CliError(str(exc)) from None


def run_migrate(args: argparse.Namespace) -> int:
    config = config_from(args)
    engine = engine_from(config)
    try:
        revision = db.upgrade(engine)
    except OperationalError as exc:
        raise CliError(f"database unavailable: {exc.orig}") from None
    print(f"schema at revision {revision}")
    return 0


def run_check_config(args: argparse.Namespace) -> int:
    config = config_from(args)
    print(f"home: {config.home}")
    print(f"database: {config.effective_database_url.split('@')[-1]}")
    print(f"smtp: {config.smtp.host}:{config.smtp.port} (max {config.smtp.max_message_size} bytes)")
    print(f"web: {config.web.host}:{config.web.port}")
    target = (
        config.outbox_maildir if config.outbox.transport == "maildir" else config.outbox.relay_host
    )
    print(f"outbox: {config.outbox.transport} -> {target}")
    for name, profile in config.profiles.items():
        hours = profile.hours[-1]
        periods = ", ".join(f"{a}-{b}" for a, b in hours.periods)
        print(
            f"profile {name}: intake {', '.join(profile.intake_addresses) or '-'}; "
            f"hours {periods} from {hours.effective_from}; cutoff {profile.license_cutoff}"
        )
    print("configuration OK")
    return 0


def status_counts(session: Any) -> dict[str, Any]:
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
        "outbox": {k: outbox.get(k, 0) for k in ("pending", "sent", "failed")},
    }


def run_status(args: argparse.Namespace) -> int:
    config = config_from(args)
    engine = engine_from(config)
    try:
        with db.session_factory(engine)() as session:
            counts = status_counts(session)
    except OperationalError as exc:
        raise CliError(
            f"database unavailable or not initialised (run init-db): {exc.orig}"
        ) from None
    if args.json:
        print_json(counts)
    else:
        for key, value in counts.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k} {v}" for k, v in value.items())
            print(f"{key}: {value}")
    return 0


def run_customers_import(args: argparse.Namespace) -> int:
    config = config_from(args)
    engine = engine_from(config)
    try:
        with db.session_factory(engine).begin() as session:
            count = import_file(session, args.file, config.default_profile, config.profiles)
    except CustomerImportError as exc:
        raise CliError(f"{args.file}: {exc}; nothing imported") from None
    except OperationalError as exc:
        raise CliError(
            f"database unavailable or not initialised (run init-db): {exc.orig}"
        ) from None
    print(f"imported {count} customers")
    return 0
