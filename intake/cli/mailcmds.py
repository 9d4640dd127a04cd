"""``uketsuke parse``: print, as JSON, what intake reads from a message.

The parser is imported by the handler (start-up rule in ``intake.cli.common``); the parse context
is the pipeline's (``intake.mail.context``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intake.cli.common import CliError, add_config_option, config_from, print_json

if TYPE_CHECKING:
    pass


def register(commands: Any) -> None:
    parse = commands.add_parser("parse", help="print, as JSON, what intake reads from a message")
    add_config_option(parse)
    parse.add_argument("file", metavar="FILE.eml", help="the message; - reads standard input")
    parse.add_argument("--profile", help="profile whose tag and staff addresses apply")
    parse.set_defaults(handler=run_parse)


def run_parse(args: argparse.Namespace) -> int:
    from intake.mail.context import parse_context
    from intake.mail.parse import NotAMessage, parse_message

    config = config_from(args)
    context = parse_context(config, args.profile)
    if args.file == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(args.file).read_bytes()
        except OSError as exc:
            raise CliError(f"{args.file}: {exc.strerror}") from None
    try:
        parsed = parse_message(data, context)
    except NotAMessage as exc:
        raise CliError(f"{args.file}: {exc}") from None
    print_json(parsed.to_json())
    return 0
