"""The ``uketsuke`` command line: one entry point, one module per area of commands.

Errors a user can cause are one line on stderr and a non-zero exit (R30), never a traceback.

Start-up: a run of one command imports only the module that registers it (:data:`COMMANDS`), and
command modules import their handlers' dependencies in the handlers (the rule is in
``intake.cli.common``), so ``calendar``, ``support-period``, ``parse``, ``check-config`` and
``--help`` start without loading the daemon's stack (bench/cli_start.py).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from intake import logs
from intake.cli.common import CliError, UketsukeParser
from intake.private import private_umask
from intake.schema import ConfigError

# Each module's register(commands) adds these top-level commands. A command missing here still
# works (the whole parser is built for it), only slower; a test keeps this table exact.
COMMANDS: dict[str, tuple[str, ...]] = {
    "intake.cli.admin": (
        "run",
        "init-db",
        "migrate",
        "check-config",
        "status",
        "health",
        "backup",
        "customers",
    ),
    "intake.cli.timecmds": ("calendar", "support-period"),
    "intake.cli.mailcmds": ("parse",),
    "intake.cli.incidentcmds": ("incidents",),
    "intake.cli.heldcmds": ("held", "reprocess"),
    "intake.cli.staffcmds": ("staff",),
    "intake.cli.cannedcmds": ("canned",),
    "intake.cli.queuecmds": ("timers", "outbox"),
    "intake.cli.reportcmds": ("report",),
    "intake.cli.auditcmds": ("audit",),
}
EXIT_BROKEN_PIPE = 128 + 13  # as a process killed by SIGPIPE reports it (`yes | head -1`)


def modules_for(argv: Sequence[str] | None) -> tuple[str, ...]:
    """The module of the command ``argv`` names, when the table knows it; else all of them
    (``--help``, no command, an unknown one: argparse then lists every command)."""
    for token in argv or ():
        if token in ("-h", "--help"):
            break
        if not token.startswith("-"):
            for module, names in COMMANDS.items():
                if token in names:
                    return (module,)
            break
    return tuple(COMMANDS)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or with ``argv`` only of the command it names."""
    parser = UketsukeParser(
        prog="uketsuke", description="受付 — ticket intake daemon for Japanese support desks"
    )
    parser.add_argument("--debug", action="store_true", help="log debug output; tracebacks")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=UketsukeParser)
    commands.required = True
    for module in modules_for(argv):
        importlib.import_module(module).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    private_umask()  # whatever uketsuke creates is its user's alone (intake.private)
    try:
        try:
            return _dispatch(argv)
        finally:
            sys.stdout.flush()  # here, so that a closed pipe is seen while it can be handled
    except BrokenPipeError:
        # The reader went away (`uketsuke incidents list | head -1`): nothing more to say. Point
        # stdout at /dev/null so the interpreter's last flush does not fail again (Python docs,
        # "Note on SIGPIPE").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _dispatch(argv: Sequence[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    logs.configure(logging.DEBUG if args.debug else logging.INFO)
    try:
        return int(args.handler(args) or 0)
    except (CliError, ConfigError) as exc:
        print(f"uketsuke: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise
    except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into one line
        if args.debug:
            raise
        print(f"uketsuke: internal error ({type(exc).__name__}); run with --debug", file=sys.stderr)
        return 1
