"""The incident list ``/staff/`` and the incident page ``/staff/incidents/<n>`` (R26).

Reads run in read-only sessions (no write turn on SQLite); the audit row of each view is written
after them in its own short transaction (R26: every view of an incident is audited).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, render_template, request, url_for
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import selectinload

from intake.answerfiles import kept_files
from intake.canned import usable_canned
from intake.fieldnames import FIELD_LABELS
from intake.filelimits import LIMITS_TEXT
from intake.incidenttag import incident_tag
from intake.models import (
    Customer,
    Incident,
    OutboxMail,
    RawMessage,
    SupportContract,
    TimedAction,
)
from intake.staffcommands import CATEGORIES, CAUSES
from intake.states import OutboxKind
from intake.web import slalist
from intake.web.context import web_context
from intake.web.search import DUES, FLAGS, STATES, Filters, list_incidents
from intake.web.staff_common import audit_view, check_profile, member, now, reading, visible
from intake.web.staff_desk import assignee_condition, desk_page_data, staff_names
from intake.web.staff_files import attachments_of
from intake.web.staff_hold import held_answers


def incidents() -> Any:
    config = web_context().config
    profiles = sorted(member().profiles or config.profiles)
    filters = Filters.from_args(request.args, profiles)
    at = now()
    with reading() as session:
        page = list_incidents(session, filters, list_restrict(filters, at))
        names = staff_names(session)
    audit_view("view_list", None, **filters.shown())
    return render_template(
        "staff/list.html",
        title="インシデント一覧",
        filters=filters,
        page=page,
        profiles=profiles,
        states=STATES,
        categories=CATEGORIES,
        flags=FLAGS,
        dues=DUES,
        staff_names=names,
        **slalist.list_context(config, page.rows, at),  # the 期限 column and its filters
        older_url=_page_url(filters, before=page.older) if page.older else None,
        newer_url=_page_url(filters, after=page.newer) if page.newer else None,
        first_url=url_for("staff.incidents", **filters.params())
        if filters.before or filters.after
        else None,
    )


def list_restrict(filters: Filters, at: datetime) -> ColumnElement[bool]:
    """What the list shows beyond ``filters`` itself: the member's profiles, the 回答期限 filter
    and the 担当 filter (the page and its CSV download alike)."""
    restrict = and_(visible(Incident.profile), slalist.sla_condition(filters.sla, at))
    if (mine := assignee_condition(filters)) is not None:
        restrict = and_(restrict, mine)
    return restrict


def _page_url(filters: Filters, **position: int | None) -> str:
    return url_for("staff.incidents", **filters.params(**position))


def incident(number: int) -> Any:
    return render_incident(number)


def render_incident(
    number: int,
    *,
    error: str | None = None,
    typed: dict[str, str] | None = None,
    status: int = 200,
) -> Any:
    """The incident page; after a refused action, with the error and what was typed (R30)."""
    data = _incident_data(number)
    incident = data["incident"]
    if error is None:
        audit_view("view_incident", f"incident:{number}")
    return (
        render_template(
            "staff/incident.html",
            title=f"{incident_tag(number)} {incident.subject or incident.first_line}",
            error=error,
            typed=typed or {},
            categories=CATEGORIES,
            causes=CAUSES,
            field_labels=FIELD_LABELS,
            **data,
        ),
        status,
    )


def _incident_data(number: int) -> dict[str, Any]:
    with reading() as session:
        found = session.scalars(
            select(Incident)
            .where(Incident.id == number)
            .options(
                selectinload(Incident.messages),
                selectinload(Incident.customer).selectinload(Customer.contacts),
                selectinload(Incident.customer).selectinload(Customer.domains),
            )
        ).one_or_none()
        if found is None:
            abort(404)
        check_profile(found.profile)
        timers = session.scalars(
            select(TimedAction)
            .where(TimedAction.incident_id == number, TimedAction.state == "pending")
            .order_by(TimedAction.due_at)
        ).all()
        key_mails = session.execute(
            select(
                OutboxMail.id,
                OutboxMail.state,
                OutboxMail.due_at,
                OutboxMail.recipients,
                OutboxMail.sent_at,
                OutboxMail.late,
            )
            .where(OutboxMail.incident_id == number, OutboxMail.kind == OutboxKind.LICENSE_KEY)
            .order_by(OutboxMail.id)
        ).all()
        linked_from = session.scalars(
            select(Incident.id).where(Incident.linked_incident_id == number).order_by(Incident.id)
        ).all()
        contract = session.get(SupportContract, found.contract_id) if found.contract_id else None
        desk = desk_page_data(session, found, now())
        raw_ids = sorted({m.raw_message_id for m in found.messages if m.raw_message_id})
        raws = session.scalars(select(RawMessage).where(RawMessage.id.in_(raw_ids))).all()
        answer_form = {  # the answer form's canned answers; files staff gave on the dashboard
            "canned": usable_canned(session, found.profile),
            "answer_files": kept_files(session, [m.id for m in found.messages]),
            "file_limits": LIMITS_TEXT,
        }
        held = held_answers(session, number)  # 送信取消, 承認待ち
    attachments = {raw.id: attachments_of(raw) for raw in raws}
    return {
        "incident": found,
        "customer": found.customer,
        "messages": found.messages,
        "timers": timers,
        "key_mails": key_mails,
        "linked_from": linked_from,
        "contract": contract,
        "attachments": attachments,
        "purged": {raw.id for raw in raws if raw.purged_at is not None},
        "held_answers": held,
        **desk,
        **answer_form,
    }
