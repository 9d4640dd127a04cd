"""``uketsuke audit list``: the audit log of staff views and actions and of notable automatic
decisions (R26), read-only.

The log is what R26 asks to be kept: who (``actor``: a staff address, ``cli``, ``web`` for a
failed login, ``uketsuke`` for automatic decisions, ``customer`` for a close link) did what
(``action``) to what (``target``: ``incident:N``, ``outbox:N``, ``raw:N``, ``staff:EMAIL`` …)
and when. Its ``detail`` never holds a message body
or a password. Newest last; ``--limit N`` keeps the newest N.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from intake.cli.common import (
    CliError,
    add_config_option,
    config_from,
    echo,
    engine_from,
    print_json,
)
from scheduler.calendar import format_instant

# Handlers import what they use in their bodies (start-up rule in intake.cli.common).


def register(commands: Any) -> None:
    audit = commands.add_parser("audit", help="the audit log of staff views and actions (R26)")
    actions = audit.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", help="audit entries, newest last")
    add_config_option(listing)
    listing.add_argument("--actor", metavar="A", help="only this actor (e.g. a staff address)")
    listing.add_argument("--action", dest="kind", metavar="X", help="only this action")
    listing.add_argument("--limit", type=int, metavar="N", help="only the newest N entries")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=run_list)


def run_list(args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from intake import db
    from intake.models import AuditEntry

    if args.limit is not None and args.limit < 1:
        raise CliError(f"--limit {args.limit}: give a number of entries, 1 or more")
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if args.actor:
        query = query.where(func.lower(AuditEntry.actor) == args.actor.strip().lower())
    if args.kind:
        query = query.where(AuditEntry.action == args.kind.strip())
    if args.limit is not None:
        query = query.limit(args.limit)
    sessions = db.read_sessions(db.session_factory(engine_from(config_from(args))))
    with sessions() as session:
        entries = [entry_json(entry) for entry in session.scalars(query)]
    entries.reverse()
    for entry in entries:
        if args.json:
            print_json(entry)
        else:
            echo(entry_text(entry))
    return 0


def entry_json(entry: Any) -> dict[str, Any]:
    """The documented JSON of an audit entry (README)."""
    return {
        "id": entry.id,
        "at": format_instant(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "detail": dict(entry.detail or {}),
    }


def entry_text(entry: dict[str, Any]) -> str:
    """``AT ACTOR ACTION TARGET [DETAIL]``, one line (the detail as compact JSON)."""
    words = [entry["at"], entry["actor"], entry["action"], entry["target"] or "-"]
    words = ["_".join(str(word).split()) or "-" for word in words]  # one word each
    if entry["detail"]:
        words.append(json.dumps(entry["detail"], ensure_ascii=False, separators=(",", ":")))
    return " ".join(words)
