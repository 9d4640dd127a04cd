"""The staff dashboard under ``/staff/`` (issue 11; R26: it needs a login, and staff views and
actions are audited).

One blueprint; its pages live in ``auth`` (login, logout), ``staff_incidents`` (list and
incident page), ``staff_actions`` (what staff do on an incident), ``staff_files`` (attachment
downloads) and ``staff_pages`` (held mail, customers, reports). They are imported by the first
request that needs them, not when the app is built: the daemon serving only customers' forms
never loads the models, the mail parser or the pipeline for the dashboard (idle memory, as the
form pages do).

Every page but the login page needs a logged-in member: without one a GET is redirected (302) to
the login page with ``next``, and so is any other request. Pages are never cached and never
framed, and the policy allows no script at all (the dashboard needs none).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, g, redirect, request, url_for

from intake.alarms import active_alarms
from intake.fieldnames import FIELD_LABELS
from intake.labels import PERIOD_KIND_LABELS, ja_date, ja_short_time
from intake.web.staff_common import (
    CATEGORY_LABELS,
    CAUSE_LABELS,
    CHANNEL_LABELS,
    DIRECTION_LABELS,
    DUE_LABELS,
    FLAG_LABELS,
    OUTBOX_STATE_LABELS,
    STATE_LABELS,
    TIMER_LABELS,
    profile_labels,
    reading,
    tokyo_time,
)

staff = Blueprint("staff", __name__)
OPEN_ENDPOINTS = frozenset({"staff.login"})
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}
GET, POST = ("GET",), ("POST",)
# rule, endpoint, module under intake.web, view function, methods
ROUTES = (
    ("/login", "login", "auth", "login", ("GET", "POST")),
    ("/logout", "logout", "auth", "logout", POST),
    ("/", "incidents", "staff_incidents", "incidents", GET),
    ("/incidents.csv", "incidents_csv", "staff_export", "incidents_csv", GET),
    ("/incidents/<int:number>", "incident", "staff_incidents", "incident", GET),
    ("/incidents/<int:number>/<action>", "act", "staff_actions", "perform", POST),
    ("/attachments/<int:raw_id>/<int:index>", "attachment", "staff_files", "download", GET),
    ("/answer-files/<int:file_id>", "answer_file", "staff_answers", "download", GET),
    ("/canned/<int:number>", "canned_insert", "staff_answers", "insert", POST),
    ("/held", "held", "staff_pages", "held", GET),
    ("/held/<int:raw_id>/reprocess", "reprocess", "staff_pages", "reprocess", POST),
    ("/held/<any(inquiry,raw):kind>/<int:item_id>/discard", "discard", "staff_discard", "discard",
     POST),  # fmt: skip
    ("/customers", "customers", "staff_pages", "customers", GET),
    ("/customers/<int:customer_id>", "customer", "staff_pages", "customer", GET),
    ("/reports", "reports", "staff_pages", "reports", GET),
    ("/approvals", "approvals", "staff_hold", "approvals", GET),
)


def _lazy(module: str, name: str) -> Callable[..., Any]:
    def view(**arguments: Any) -> Any:
        return getattr(importlib.import_module(f"intake.web.{module}"), name)(**arguments)

    view.__name__ = name
    return view


for rule, endpoint, module, name, methods in ROUTES:
    staff.add_url_rule(rule, endpoint, _lazy(module, name), methods=list(methods))


@staff.before_request
def require_login() -> Any:
    """R26: no staff page without a login; the member is loaded for the page and the audit."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    from intake.web.auth import load_member

    member = load_member()
    if member is None:
        target = request.full_path if request.method == "GET" else None
        target = target[:-1] if target and target.endswith("?") else target
        return redirect(url_for("staff.login", next=target))
    g.staff = member
    return None


@staff.after_request
def harden(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@staff.context_processor
def page_context() -> dict[str, Any]:
    return {
        "site_name": "受付 スタッフ",
        "staff_user": g.get("staff"),
        "state_labels": STATE_LABELS,
        "category_labels": CATEGORY_LABELS,
        "cause_labels": CAUSE_LABELS,
        "flag_labels": FLAG_LABELS,
        "direction_labels": DIRECTION_LABELS,
        "due_labels": DUE_LABELS,
        "timer_labels": TIMER_LABELS,
        "outbox_state_labels": OUTBOX_STATE_LABELS,
        "channel_labels": CHANNEL_LABELS,
        "period_kind_labels": PERIOD_KIND_LABELS,
        "field_labels": FIELD_LABELS,
        "profile_labels": profile_labels(),
        "alarms": _alarms() if g.get("staff") is not None else [],
    }


def _alarms() -> list[str]:
    """What operators have been alarmed about and still holds: a banner on every staff page."""
    with reading() as session:
        return [alarm.detail for alarm in active_alarms(session)]


staff.add_app_template_filter(tokyo_time, "tokyo")
staff.add_app_template_filter(ja_date, "ja_date")
staff.add_app_template_filter(ja_short_time, "due")  # 12月7日（月）10:30 (response targets)
