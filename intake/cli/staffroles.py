"""Who approves answers and whose answers need approval (docs/staff.md, "送信保留と上長承認"):
``staff add … [--approver] [--needs-approval]`` and ``staff set EMAIL --approver|--no-approver|
--needs-approval|--no-needs-approval``. Registered by ``intake.cli.staffcmds``."""

from __future__ import annotations

import argparse
from typing import Any

from intake.cli.common import CliError, add_config_option, config_from, echo, engine_from

# Handlers import what they use in their bodies (start-up rule in intake.cli.common).

ROLES = ("approver", "needs_approval")


def add_role_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--approver", action="store_true", help="may approve answers that need approval"
    )
    parser.add_argument(
        "--needs-approval", action="store_true", help="this member's answers need an approver"
    )


def register_set(actions: Any) -> None:
    change = actions.add_parser("set", help="change an account's approval roles")
    add_config_option(change)
    change.add_argument("email")
    for role in ROLES:
        flag = role.replace("_", "-")
        change.add_argument(f"--{flag}", dest=role, action="store_true", default=None)
        change.add_argument(f"--no-{flag}", dest=role, action="store_false")
    change.set_defaults(handler=run_set)


def roles_text(approver: bool, needs_approval: bool) -> str:
    words = [w for w, on in (("approver", approver), ("needs approval", needs_approval)) if on]
    return ", ".join(words) or "no approval role"


def run_set(args: argparse.Namespace) -> int:
    """Audited as ``staff_set`` with what changed."""
    from sqlalchemy import select

    from intake import db
    from intake.audit import audit
    from intake.models import StaffUser

    changes = {role: getattr(args, role) for role in ROLES if getattr(args, role) is not None}
    if not changes:
        raise CliError(
            "nothing to set: give --approver, --no-approver, --needs-approval or"
            " --no-needs-approval"
        )
    email = args.email.strip().lower()
    with db.session_factory(engine_from(config_from(args))).begin() as session:
        user = session.scalars(select(StaffUser).where(StaffUser.email == email)).one_or_none()
        if user is None:
            raise CliError(f"no staff {email}")
        for role, value in changes.items():
            setattr(user, role, value)
        audit(session, "staff_set", actor="cli", target=f"staff:{email}", detail=changes)
        text = roles_text(user.approver, user.needs_approval)
    echo(f"staff {email}: {text}")
    return 0
