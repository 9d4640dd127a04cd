"""Japanese labels of the names stored as strings, for everything staff read.

One map per kind of name (states, categories, causes, channels, flags, timers, held reasons…),
used by the staff mails (``responder``), the dashboard (``intake.web``) and the staff-facing
command output. Staff read Japanese: no rule numbers, no stored names, no ISO timestamps
(:func:`ja_time`). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from intake.states import IncidentFlag, IncidentState, OutboxKind, OutboxState, RawState
from scheduler.calendar import to_tokyo

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
CHANNEL_LABELS = {
    "smtp": "メール",
    "imap": "メール",
    "fax": "FAX",
    "web": "ウェブフォーム",
    "phone": "電話",
}
FLAG_LABELS = {
    IncidentFlag.OUT_OF_SCOPE: "対象外",
    IncidentFlag.NO_REPLY_ADDRESS: "返信先なし",
    IncidentFlag.SUPPORT_LAPSED: "サポート切れ",
    IncidentFlag.NO_SUPPORT_PERIOD: "サポート期間なし",
    IncidentFlag.AFTER_HOURS: "時間外・請求候補",
    IncidentFlag.QUOTA_EXCEEDED: "件数超過",
    IncidentFlag.DOMAIN_MISMATCH: "ドメイン不一致",
    IncidentFlag.NON_JAPANESE: "日本語以外",
    IncidentFlag.BOUNCE: "不達",
    IncidentFlag.MERGED: "統合済み",
}
DIRECTION_LABELS = {"in": "受信", "out": "送信", "note": "内部メモ"}
DUE_LABELS = {"auto_close": "自動クローズ予定", OutboxKind.LICENSE_KEY: "キー送付予定"}
TIMER_LABELS = {
    "auto_close": "自動クローズ",
    "held_expiry": "保留期限",
    "license_key": "ライセンスキー送付",
    "license_mail": "ライセンスキー送付",
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
RAW_STATE_LABELS = {
    RawState.RECEIVED: "未処理",
    RawState.PROCESSED: "処理済み",
    RawState.HELD: "保留",
    RawState.IGNORED: "対象外",
    RawState.UNPROCESSABLE: "処理できず",
}
HELD_REASON_LABELS = {
    "missing_fields": "必須項目の不足",
    "unknown_customer": "顧客番号が登録にない",
    "needs_transcription": "FAXの手入力待ち",
}
PERIOD_KIND_LABELS = {
    "re-continuation": "再継続年間サポート",
    "renewal": "次年度以降の年間サポート",
    "added-license": "追加ライセンス",
}
WEEKDAYS = "月火水木金土日"


def label(labels: Mapping[str, str], value: str | None, empty: str = "—") -> str:
    """The Japanese label of ``value``; the value itself when it has none (a new name)."""
    if not value:
        return empty
    return labels.get(value, value)


def labels_of(labels: Mapping[str, str], values: list[str] | None, empty: str = "なし") -> str:
    """Several names, as a Japanese list (``件数超過、時間外・請求候補``)."""
    return "、".join(label(labels, v) for v in values) if values else empty


def ja_time(value: datetime | None, today: date | None = None) -> str:
    """A time as staff read it, in Asia/Tokyo: ``12月7日（月）10:31``; with the year when it is
    not the year of ``today`` (always, without ``today``)."""
    if value is None:
        return "—"
    t = to_tokyo(value)
    year = "" if today is not None and today.year == t.year else f"{t.year}年"
    return f"{year}{t.month}月{t.day}日（{WEEKDAYS[t.weekday()]}）{t:%H:%M}"


def ja_day(day: date) -> str:
    """A day as staff and customers read it in a sentence: ``12月7日（月）``."""
    return f"{day.month}月{day.day}日（{WEEKDAYS[day.weekday()]}）"


def ja_short_time(instant: datetime) -> str:
    """``12月7日（月）10:31`` in Asia/Tokyo, never with the year (a near time: a due time, who
    answered when, a placeholder)."""
    t = to_tokyo(instant)
    return f"{ja_day(t.date())}{t:%H:%M}"


def ja_date(value: date | None) -> str:
    """A date as staff read it: ``2026年12月7日``."""
    return "—" if value is None else f"{value.year}年{value.month}月{value.day}日"
