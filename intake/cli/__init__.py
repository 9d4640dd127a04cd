"""The ``uketsuke`` command line: one entry point, one module per area of commands.

Errors a user can cause are one line on stderr and a non-zero exit (R30), never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from intake import logs
from intake.cli import admin, incidentcmds, mailcmds, timecmds
from intake.cli.common import CliError, UketsukeParser
from intake.config import ConfigError

MODULES = (admin, timecmds, mailcmds, incidentcmds)


def build_parser() -> argparse.ArgumentParser:
    parser = UketsukeParser(
        prog="uketsuke", description="受付 — ticket intake daemon for Japanese support desks"
    )
    parser.add_argument("--debug", action="store_true", help="log debug output; tracebacks")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=UketsukeParser)
    commands.required = True
    for module in MODULES:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure(logging.DEBUG if args.debug else logging.INFO)
    try:
        return int(args.handler(args) or 0)
    except (CliError, ConfigError) as exc:
        print(f"uketsuke: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into one line
        if args.debug:
            raise
        print(f"uketsuke: internal error ({type(exc).__name__}); run with --debug", file=sys.stderr)
        return 1
