"""``uketsuke parse``: print, as JSON, what intake reads from a message.

The parser is imported by the handler (start-up rule in ``intake.cli.common``); the parse context
is built here rather than by ``intake.pipeline.parse_context``, whose module loads SQLAlchemy (a
test keeps the two equal).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intake.cli.common import CliError, add_config_option, config_from, print_json

if TYPE_CHECKING:
    from intake.config import Config
    from intake.mail.parse import ParseContext


def register(commands: Any) -> None:
    parse = commands.add_parser("parse", help="print, as JSON, what intake reads from a message")
    add_config_option(parse)
    parse.add_argument("file", metavar="FILE.eml", help="the message; - reads standard input")
    parse.add_argument("--profile", help="profile whose tag and staff addresses apply")
    parse.set_defaults(handler=run_parse)


def parse_context(config: Config, profile: str | None = None) -> ParseContext:
    """What the parser needs of the configuration: the profile's tag, staff and fax senders."""
    from intake.mail.parse import ParseContext

    staff = {a.lower() for p in config.profiles.values() for a in p.staff_addresses}
    return ParseContext(
        tag_prefix=config.profile(profile).tag_prefix,
        staff_addresses=frozenset(staff),
        fax_senders=frozenset(config.fax_sender_addresses()),
    )


def run_parse(args: argparse.Namespace) -> int:
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
