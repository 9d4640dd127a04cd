"""``/staff/incidents.csv``: the incident list as Excel opens it (UTF-8 with a BOM, CRLF), with the
same filters as the list page and Japanese headings; every page of the list, newest first, up to
:data:`MAX_ROWS`. Audited like the list (R26: ``export_list``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from flask import Response, request

from intake.excelcsv import Cell, excel_csv
from intake.labels import CATEGORY_LABELS, FLAG_LABELS, STATE_LABELS, label, labels_of
from intake.web.context import web_context
from intake.web.search import Filters, Row, list_incidents
from intake.web.staff_common import (
    audit_view,
    member,
    now,
    profile_labels,
    reading,
)
from intake.web.staff_desk import staff_names
from intake.web.staff_incidents import list_restrict
from scheduler.calendar import to_tokyo

MAX_ROWS = 20_000
HEADINGS = (
    "番号",
    "状態",
    "受付日時",
    "顧客番号",
    "社名",
    "分類",
    "件名",
    "内容",
    "フラグ",
    "緊急",
    "プロファイル",
    "担当",
    "回答期限",
)
DUE_HEADING = "予定時刻"


def excel_time(value: datetime | None) -> str:
    """``2026/11/24 10:30`` (Asia/Tokyo): a time Excel reads as one."""
    return "" if value is None else f"{to_tokyo(value):%Y/%m/%d %H:%M}"


def incidents_csv() -> Any:
    config = web_context().config
    filters = Filters.from_args(request.args, sorted(member().profiles or config.profiles))
    filters = replace(filters, before=None, after=None)
    restrict = list_restrict(filters, now())  # the 回答期限 and 担当 filters, as on the page
    rows: list[Row] = []
    with reading() as session:
        staff = staff_names(session)
        while len(rows) < MAX_ROWS:
            page = list_incidents(session, filters, restrict)
            rows += page.rows
            if page.older is None:
                break
            filters = replace(filters, before=page.older)
    rows = rows[:MAX_ROWS]
    audit_view("export_list", None, rows=len(rows), **replace(filters, before=None).shown())
    due = bool(filters.due)
    names = profile_labels()
    body = excel_csv(
        (*HEADINGS, DUE_HEADING) if due else HEADINGS,
        (_cells(row, names, staff, due) for row in rows),
    )
    stamp = f"{to_tokyo(now()):%Y%m%d-%H%M}"
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="incidents-{stamp}.csv"',
        },
    )


def _cells(row: Row, names: dict[str, str], staff: dict[str, str], due: bool) -> list[Cell]:
    cells: list[Cell] = [
        row.id,
        label(STATE_LABELS, row.state),
        excel_time(row.created_at),
        row.customer_number or "",
        row.company or "",
        label(CATEGORY_LABELS, row.category),
        row.subject,
        row.first_line,
        labels_of(FLAG_LABELS, row.flags, empty=""),
        "緊急" if row.urgent else "",
        names.get(row.profile, row.profile),
        staff.get(row.assignee, row.assignee) if row.assignee else "",
        excel_time(row.response_due),
    ]
    return [*cells, excel_time(row.due_at)] if due else cells
