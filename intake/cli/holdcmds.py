"""``uketsuke outbox cancel ID``: take back a staff answer within its hold (docs/staff.md,
"送信保留と上長承認"). Registered under ``outbox`` by ``intake.cli.queuecmds``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from intake.cli.common import CliError, add_config_option, config_from, echo, engine_from

# Handlers import what they use in their bodies (start-up rule in intake.cli.common).


def register_cancel(actions: Any) -> None:
    cancel = actions.add_parser("cancel", help="take back a staff answer not sent yet")
    add_config_option(cancel)
    cancel.add_argument("id", type=int, help="outbox id of the answer (from outbox list)")
    cancel.set_defaults(handler=run_cancel)


def run_cancel(args: argparse.Namespace) -> int:
    """The answer is not sent and the incident is as before it; audited. An answer already sent
    is a one-line error and exit 1; an id that is no staff answer, exit 2."""
    from intake import db
    from intake.answerhold import NotCancellable, cancel
    from intake.models import OutboxMail
    from intake.states import OutboxKind

    sessions = db.session_factory(engine_from(config_from(args)))
    with sessions.begin() as session:
        row = session.get(OutboxMail, args.id)
        if row is None:
            raise CliError(f"no outbox mail {args.id}")
        if row.kind != OutboxKind.ANSWER:
            raise CliError(f"outbox {args.id} is a {row.kind} mail; only a staff answer can be")
        try:
            row = cancel(session, args.id, datetime.now(UTC), by="cli")
        except NotCancellable as exc:
            print(f"uketsuke: {exc}", file=sys.stderr)
            return 1
        incident = row.incident_id
    echo(f"outbox {args.id} cancelled: the answer to #{incident} was not sent")
    return 0
