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

from intake.states import IncidentFlag, IncidentState, OutboxKind, OutboxState
from intake.web.context import web_context
from scheduler.calendar import TOKYO

if TYPE_CHECKING:  # the models load with the first staff request (the daemon's idle memory)
    from intake.models import StaffUser

STATE_LABELS = {
    IncidentState.OPEN: "対応待ち",
    IncidentState.ANSWERED: "回答済み",
    IncidentState.CLOSED: "完了",
}
CATEGORY_LABELS = {
    "general": "一般・契約",
    "setup": "導入・設定",
    "operation": "操作・設定方法",
    "fault": "不具合・障害",
    "license": "ライセンスキー再発行",
    "out_of_scope": "対象外",
    "other": "その他",
}
CAUSE_LABELS = {"customer": "お客様側", "ours": "当社側", "third-party": "第三者・サービス外"}
FLAG_LABELS = {
    IncidentFlag.OUT_OF_SCOPE: "対象外 (R5)",
    IncidentFlag.NO_REPLY_ADDRESS: "返信先なし (R10)",
    IncidentFlag.SUPPORT_LAPSED: "サポート切れ (R25)",
    IncidentFlag.NO_SUPPORT_PERIOD: "サポート期間なし (R25)",
    IncidentFlag.AFTER_HOURS: "時間外・請求候補 (R22/R23)",
    IncidentFlag.QUOTA_EXCEEDED: "件数超過 (R4)",
    IncidentFlag.DOMAIN_MISMATCH: "ドメイン不一致 (R2)",
    IncidentFlag.NON_JAPANESE: "日本語以外 (R6)",
    IncidentFlag.BOUNCE: "不達 (R27)",
    IncidentFlag.MERGED: "統合済み (R3)",
}
DIRECTION_LABELS = {"in": "受信", "out": "送信", "note": "内部メモ"}
DUE_LABELS = {"auto_close": "自動クローズ予定 (R18)", OutboxKind.LICENSE_KEY: "キー送付予定 (R14)"}
TIMER_LABELS = {
    "auto_close": "自動クローズ (R18)",
    "held_expiry": "保留期限 (R2)",
    "license_key": "ライセンスキー送付 (R14)",
    "sla_due": "回答期限の通知",
}
OUTBOX_STATE_LABELS = {
    OutboxState.PENDING: "送信待ち",
    OutboxState.HELD: "保留中",
    OutboxState.SENT: "送信済み",
    OutboxState.FAILED: "失敗",
    OutboxState.AWAITING_APPROVAL: "承認待ち",
    OutboxState.CANCELLED: "送信取消",
}


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


def tokyo_time(value: datetime | None) -> str:
    """A time as staff read it: Asia/Tokyo, to the minute (R12)."""
    if value is None:
        return "—"
    return value.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M")
