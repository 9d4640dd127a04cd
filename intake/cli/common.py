"""Shared pieces of the command line: the parser, errors, time parsing, config and database.

Start-up rule (bench/cli_start.py): building the parser imports no more than this module, the
standard library and ``intake.schema``. A command module imports at its top only what its
``register`` needs; a handler imports in its body what it uses (SQLAlchemy, the models, the
pipeline, the daemon), under ``TYPE_CHECKING`` what only annotations name. A test checks that
``import intake.cli`` plus ``build_parser()`` loads none of SQLAlchemy, aiosmtpd, Flask,
imapclient, APScheduler or pydantic.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NoReturn

from scheduler.calendar import TOKYO

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from intake.config import Config

NO_DATABASE_HINT = "set UKETSUKE_HOME or UKETSUKE_DATABASE_URL, or run `uketsuke migrate`"
SCHEMA_TABLE = "raw_messages"  # the first table of the schema: its presence means "migrated"


class CliError(Exception):
    """A user-caused error: printed as one line, exit 2."""


class UketsukeParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2 (R30)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML configuration (default: built-in)")


def config_from(args: argparse.Namespace) -> Config:
    from intake.config import load_config

    return load_config(getattr(args, "config", None))


def mask_url(url: str) -> str:
    """A database URL fit to print: the password (user info or ``password=``) replaced by ***."""
    scheme_end = url.find("://")
    at = url.partition("?")[0].rfind("@")
    if 0 <= scheme_end < at:
        user, colon, _password = url[scheme_end + 3 : at].partition(":")
        url = url[: scheme_end + 3] + user + (":***" if colon else "") + url[at:]
    return re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", url)


def database_label(config: Config) -> str:
    """The database as an error message names it: a SQLite file's absolute path, else the URL
    without its password."""
    path = config.sqlite_path
    return str(path.absolute()) if path is not None else mask_url(config.effective_database_url)


def unavailable(config: Config, error: Exception) -> CliError:
    """The one-line error for a database that cannot be reached (its driver's text, which
    may span lines, joined into one)."""
    reason = " ".join(str(getattr(error, "orig", None) or error).split())
    return CliError(f"database {database_label(config)} unavailable: {reason}")


def engine_from(config: Config, *, create: bool = False) -> Engine:
    """The engine of the configured database, for the commands that use one.

    Only ``migrate``/``init-db`` pass ``create`` (and ``run`` migrates through them): every
    other command refuses, in one line naming what it looked for, a SQLite file that does not
    exist (and creates neither the file nor its folder), a database it cannot reach, and one
    without the uketsuke schema.
    """
    path = config.sqlite_path
    if not create and path is not None and not path.is_file():
        raise CliError(f"no database at {path.absolute()} ({NO_DATABASE_HINT})")
    from sqlalchemy import inspect
    from sqlalchemy.exc import DBAPIError

    from intake.db import make_engine

    engine = make_engine(config.effective_database_url)
    if create:
        return engine
    try:
        migrated = inspect(engine).has_table(SCHEMA_TABLE)
    except DBAPIError as exc:
        engine.dispose()
        raise unavailable(config, exc) from None
    if not migrated:
        engine.dispose()
        raise CliError(
            f"database {database_label(config)} has no uketsuke schema; run `uketsuke migrate`"
        )
    return engine


def parse_instant(text: str) -> datetime:
    """ISO 8601; without an offset the time is Asia/Tokyo (R12, docs/rules.md)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-11-24T17:00:00+09:00)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=TOKYO)
    return value


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CliError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, sort_keys=False)
    sys.stdout.write("\n")
