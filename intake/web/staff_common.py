"""What every staff page shares: the member logged in, what they may see, the audit, labels.

R26: customer information serves their support only. A staff account names the profiles it works
for (none: every profile, as for mail answers, R20); the dashboard shows and acts on those
profiles' incidents and mail only. Every view of customer data and every action writes an
:class:`~intake.models.AuditEntry` with the member's address as actor.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import abort, current_app, g
from sqlalchemy import ColumnElement, true
from sqlalchemy.orm import Session, sessionmaker

from intake import labels
from intake.web.context import web_context
from scheduler.calendar import to_tokyo

if TYPE_CHECKING:  # the models load with the first staff request (the daemon's idle memory)
    from intake.models import StaffUser

# The labels live in intake.labels (mails and pages share them); re-exported for the pages.
STATE_LABELS = labels.STATE_LABELS
CATEGORY_LABELS = labels.CATEGORY_LABELS
CAUSE_LABELS = labels.CAUSE_LABELS
CHANNEL_LABELS = labels.CHANNEL_LABELS
FLAG_LABELS = labels.FLAG_LABELS
DIRECTION_LABELS = labels.DIRECTION_LABELS
DUE_LABELS = labels.DUE_LABELS
TIMER_LABELS = labels.TIMER_LABELS
OUTBOX_STATE_LABELS = labels.OUTBOX_STATE_LABELS


def member() -> StaffUser:
    """The staff member of this request (set by the login guard)."""
    return g.staff


def may_see(profile: str | None) -> bool:
    profiles = member().profiles
    return not profiles or profile in profiles


def visible(column: Any) -> ColumnElement[bool]:
    """A WHERE clause keeping rows of the member's profiles (R26)."""
    profiles = member().profiles
    return column.in_(list(profiles)) if profiles else true()


def check_profile(profile: str | None) -> None:
    if not may_see(profile):
        abort(403)


def now() -> datetime:
    return web_context().clock.now()


def read_sessions() -> sessionmaker[Session]:
    """Sessions that only read: on SQLite they take no write turn, so a long search never keeps
    the daemon's writers waiting (one per app, made once)."""
    from intake import db

    made = current_app.extensions.get("uketsuke.staff_read")
    if made is None:
        made = db.read_sessions(web_context().sessions)
        current_app.extensions["uketsuke.staff_read"] = made
    return made


@contextmanager
def reading() -> Iterator[Session]:
    with read_sessions()() as session:
        yield session


def audit(session: Session, kind: str, target: str | None, **detail: Any) -> None:
    """R26: one audit row (action ``kind``) in the caller's transaction, the member logged in
    as actor (``intake.audit``); never a message body or a password."""
    from intake.audit import audit as add_entry

    add_entry(session, kind, actor=member().email, target=target, at=now(), detail=detail)


def audit_view(kind: str, target: str | None, **detail: Any) -> None:
    """R26: a view is audited in its own short write, after the page's reads."""
    with web_context().sessions.begin() as session:
        audit(session, kind, target, **detail)


def profile_labels() -> dict[str, str]:
    """Each profile's name as staff read it (its display name)."""
    return {n: p.display_name or n for n, p in web_context().config.profiles.items()}


def tokyo_time(value: datetime | None) -> str:
    """A time as staff read it: Asia/Tokyo, to the minute (R12), ``12月7日（月）10:31`` (the year
    too when it is not this year's)."""
    return labels.ja_time(value, to_tokyo(now()).date())
