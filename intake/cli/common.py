"""Shared pieces of the command line: the parser, errors, time parsing, config and database.

Start-up rule (bench/cli_start.py): building the parser imports no more than this module, the
standard library and ``intake.schema``. A command module imports at its top only what its
``register`` needs; a handler imports in its body what it uses (SQLAlchemy, the models, the
pipeline, the daemon), under ``TYPE_CHECKING`` what only annotations name. A test checks that
``import intake.cli`` plus ``build_parser()`` loads none of SQLAlchemy, aiosmtpd, Flask,
imapclient, APScheduler or pydantic.

Printing rule (R26): a command prints text through :func:`echo` and JSON through
:func:`print_json`, never a bare ``print`` to stdout, so no value from a customer, a web form or a
failed login writes a terminal escape to the operator's screen.
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

# What a terminal acts on instead of showing, so never printed as stored (R26): the C0 controls
# (ESC starts an escape sequence that can retitle the window, clear the screen or write to the
# clipboard; a line break in a one-line value forges a row), DEL, the C1 controls (U+009B is CSI,
# U+0085 NEL), the bidi marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F,
# U+202A-U+202E, U+2066-U+2069: text that reads other than it is, CVE-2021-42574) and the line and
# paragraph separators U+2028/U+2029. Printed as a Python-style escape (``\x1b``, ``\u202e``):
# neutralised, not hidden, so an operator reading the audit log sees that something was there.
_UNSAFE = r"\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE_IN_LINE = re.compile(rf"[\x00-\x1f{_UNSAFE}]")
_UNSAFE_IN_TEXT = re.compile(rf"[\x00-\x08\x0b-\x1f{_UNSAFE}]")  # keeps LF and tab
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


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(value: object, *, multiline: bool = False) -> str:
    """``value`` as text safe to print to a terminal: every character of :data:`_UNSAFE_IN_LINE`
    written as its escape (``\\x1b``); with ``multiline`` (a message body printed on purpose),
    line breaks (LF, CRLF) and tabs are kept."""
    text = str(value)
    if multiline:
        text = text.replace("\r\n", "\n")
        unsafe = _UNSAFE_IN_TEXT
    else:
        unsafe = _UNSAFE_IN_LINE
    return unsafe.sub(_escape, text) if unsafe.search(text) else text


def echo(value: object = "", *, multiline: bool = False) -> None:
    """``print`` for every text line a command writes to stdout: what it prints may come from a
    customer's mail, a web form or a failed login, and reaches the operator's terminal only
    through :func:`terminal_text` (R26). One line unless ``multiline``."""
    print(terminal_text(value, multiline=multiline))


def _escape_json(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def print_json(value: Any) -> None:
    """One JSON value on one line. Readable Japanese (``ensure_ascii=False``), but what a terminal
    would act on is a ``\\uXXXX`` escape: json escapes C0 itself, not DEL, C1, the bidi controls
    or U+2028/U+2029 (they can be only inside strings, where the escape reads back the same)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=False)
    if _UNSAFE_IN_LINE.search(text):
        text = _UNSAFE_IN_LINE.sub(_escape_json, text)
    sys.stdout.write(text + "\n")
