"""The incident list's response targets (docs/staff.md, "Response targets"): the 期限 column,
the filters 期限超過 and 本日期限, and its labels.

The column says how much business time is left before the answer due (``残り 1時間20分``) or has
passed since (``超過 2時間``, in red), counted on the incident's profile calendar as the targets
are: a due time on Monday 11:00 seen on Friday at 16:00 is 残り 2時間, not 67 hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, true

from intake.config import Config
from intake.models import Incident
from scheduler.businesstime import business_time_between
from scheduler.calendar import TOKYO, to_tokyo

SLA_FILTERS = ("overdue", "today")
SLA_FILTER_LABELS = {"overdue": "期限超過", "today": "本日期限"}
SORTS = ("due",)
SORT_LABELS = {"due": "期限の近い順"}


def sla_condition(choice: str | None, now: datetime) -> ColumnElement[bool]:
    """期限超過: an answer is due and late; 本日期限: an answer is due today (Tokyo)."""
    if choice == "overdue":
        return Incident.response_due < now
    if choice == "today":
        start = datetime.combine(to_tokyo(now).date(), datetime.min.time(), tzinfo=TOKYO)
        return and_(
            Incident.response_due >= start, Incident.response_due < start + timedelta(days=1)
        )
    return true()


def list_context(config: Config, rows: list[Any], now: datetime) -> dict[str, Any]:
    """What the list template needs for the 期限 column, its filter and its sort."""
    return {
        "sla_filters": SLA_FILTERS,
        "sla_labels": SLA_FILTER_LABELS,
        "sorts": SORTS,
        "sort_labels": SORT_LABELS,
        "due_texts": {r.id: due_text(config, r.profile, r.response_due, now) for r in rows},
        "now": now,
    }


def due_text(config: Config, profile: str, due: datetime | None, now: datetime) -> str:
    """残り 1時間20分 or 超過 2時間 in business time; empty when nothing is due."""
    if due is None:
        return ""
    span = business_time_between(config.profile(profile).calendar(), now, due)
    if due < now:
        return f"超過 {_span(-span)}"
    return f"残り {_span(span)}"


def _span(span: timedelta) -> str:
    minutes = max(int(span.total_seconds() // 60), 0)
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest}分"
    return f"{hours}時間{rest}分" if rest else f"{hours}時間"
