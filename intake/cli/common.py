"""Shared pieces of the command line: the parser, errors, time parsing, config and database."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from typing import Any, NoReturn

from sqlalchemy import Engine

from intake.config import Config, load_config
from intake.db import make_engine
from scheduler.calendar import TOKYO


class CliError(Exception):
    """A user-caused error: printed as one line, exit 2."""


class UketsukeParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2 (R30)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML configuration (default: built-in)")


def config_from(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "config", None))


def engine_from(config: Config) -> Engine:
    return make_engine(config.effective_database_url)


def parse_instant(text: str) -> datetime:
    """ISO 8601; without an offset the time is Asia/Tokyo (DESIGN: command line)."""
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


def format_instant(value: datetime) -> str:
    """ISO 8601 in Asia/Tokyo, seconds precision: 2026-11-24T10:00:00+09:00."""
    return value.astimezone(TOKYO).replace(microsecond=0).isoformat()


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, sort_keys=False)
    sys.stdout.write("\n")
