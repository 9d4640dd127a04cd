"""Held mail, customers and the monthly reports for staff (R2, R4, R11, R23, R26, R29).

- ``/staff/held``: inquiries held for fields (R2) or for staff to key in (R11), and raw mail held
  or unprocessable (R21, R29), with a button that runs a message through the daemon's pipeline
  again — the same ``Pipeline.process(id, now, again=True)`` as ``uketsuke reprocess``.
- ``/staff/customers``: the registry with search; each customer's support periods and how many
  incidents each consumed (R4, R24).
- ``/staff/reports?month=YYYY-MM``: the ``uketsuke report`` queries (``intake.reports``) as
  tables (R4, R23), and incidents per day and per category as inline SVG.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import selectinload

from intake.labels import HELD_REASON_LABELS, RAW_STATE_LABELS, label
from intake.mail.headers import mail_subject
from intake.models import (
    Customer,
    CustomerContact,
    CustomerDomain,
    Incident,
    Inquiry,
    RawMessage,
    RawState,
)
from intake.reports import (
    NOT_MERGED,
    NotAMonth,
    billing_lines,
    billing_text_rows,
    consumption_rows,
    month_range,
)
from intake.slareport import sla_rows
from intake.spool import spool_dir
from intake.web import charts
from intake.web.context import web_context
from intake.web.reportrows import (
    month_ja,
    staff_billing_line,
    staff_consumption_row,
    staff_sla_row,
)
from intake.web.staff_common import (
    CATEGORY_LABELS,
    audit_view,
    check_profile,
    may_see,
    member,
    now,
    reading,
    visible,
)
from intake.web.staff_files import attachments_of
from intake.web.textsearch import like_pattern
from scheduler.calendar import TOKYO, to_tokyo

CUSTOMERS_PER_PAGE = 100
HEAD_BYTES = 16384
CONSUMPTION_HEADERS = (
    "顧客番号",
    "社名",
    "プロファイル",
    "期間開始",
    "期間終了",
    "上限",
    "当月消費",
    "期間内消費",
    "残り",
)
# The columns of intake.slareport.SLA_COLUMNS, as staff read them.
SLA_HEADERS = (
    "プロファイル",
    "顧客番号",
    "社名",
    "件数",
    "期限内の初回回答",
    "期限超過",
    "初回回答 中央値（営業時間）",
    "初回回答 90%（営業時間）",
)
BILLING_HEADERS = (
    "顧客番号",
    "社名",
    "番号",
    "受付日時",
    "分類",
    "原因",
    "作業分",
    "請求時間",
    "金額(円)",
)


def _rerunnable() -> Any:
    """As ``uketsuke reprocess``: held inquiries wait for the customer; other held,
    unprocessable or waiting raw mail may run again."""
    return select(RawMessage.id).where(
        RawMessage.state.in_([RawState.UNPROCESSABLE, RawState.HELD, RawState.RECEIVED]),
        ~RawMessage.id.in_(
            select(Inquiry.raw_message_id).where(
                Inquiry.raw_message_id.is_not(None), Inquiry.state == "held"
            )
        ),
    )


def _subject(raw: RawMessage) -> str:
    if raw.data is not None:
        return mail_subject(raw.data[:HEAD_BYTES])
    if raw.spool:
        try:
            with open(spool_dir(web_context().config.home_path) / raw.spool, "rb") as handle:
                return mail_subject(handle.read(HEAD_BYTES))
        except OSError:
            return ""
    return ""


def held() -> Any:
    with reading() as session:
        inquiries = session.scalars(
            select(Inquiry)
            .where(Inquiry.state == "held", visible(Inquiry.profile))
            .order_by(Inquiry.id)
        ).all()
        of_inquiries = {i.raw_message_id for i in inquiries if i.raw_message_id}
        raws = session.scalars(
            select(RawMessage)
            .where(RawMessage.state.in_([RawState.UNPROCESSABLE, RawState.HELD]))
            .order_by(RawMessage.id)
        ).all()
        inquiry_raws = session.scalars(
            select(RawMessage).where(RawMessage.id.in_(of_inquiries))
        ).all()
    raws = [r for r in raws if r.id not in of_inquiries and may_see(r.profile)]
    by_id = {r.id: r for r in [*raws, *inquiry_raws]}
    audit_view("view_held", None, inquiries=len(inquiries), raw=len(raws))
    return render_template(
        "staff/held.html",
        title="保留中の問い合わせとメール",
        inquiries=inquiries,
        raws=raws,
        subjects={i: _subject(r) for i, r in by_id.items()},
        attachments={i: attachments_of(r) for i, r in by_id.items()},
        reasons=HELD_REASON_LABELS,
    )


def _pipeline() -> Any:
    """The daemon's pipeline with its fax reader (R11), as ``uketsuke reprocess`` builds it."""
    made = current_app.extensions.get("uketsuke.staff_pipeline")
    if made is None:
        from intake.pipeline import Pipeline
        from intake.processor import fax_reader

        context = web_context()
        made = Pipeline(context.config, context.sessions, read_fax=fax_reader(context.config))
        current_app.extensions["uketsuke.staff_pipeline"] = made
    return made


def reprocess(raw_id: int) -> Any:
    """R29: a message that could not be handled runs through intake again after a fix."""
    with reading() as session:
        raw = session.get(RawMessage, raw_id)
        if raw is None:
            abort(404)
        check_profile(raw.profile)
        again = session.scalar(_rerunnable().where(RawMessage.id == raw_id)) is not None
    if not again:
        flash(f"メール {raw_id} は処理済みか、お客様の返信待ちです。", "error")
        return redirect(url_for("staff.held"), 303)
    state = _pipeline().process(raw_id, now(), again=True)
    audit_view("reprocess", f"raw:{raw_id}", state=str(state))
    flash(f"メール {raw_id} を再処理しました（{label(RAW_STATE_LABELS, state)}）。", "done")
    return redirect(url_for("staff.held"), 303)


def customers() -> Any:
    q = " ".join((request.args.get("q") or "").split())[:100]
    after = (request.args.get("after") or "")[:64]
    query = (
        select(Customer)
        .options(selectinload(Customer.domains), selectinload(Customer.contracts))
        .order_by(Customer.number)
        .limit(CUSTOMERS_PER_PAGE + 1)
    )
    if q:
        pattern = like_pattern(q)
        query = query.where(
            or_(
                Customer.number.ilike(pattern, escape="\\"),
                Customer.company.ilike(pattern, escape="\\"),
                exists().where(
                    CustomerDomain.customer_id == Customer.id,
                    CustomerDomain.domain.ilike(pattern, escape="\\"),
                ),
                exists().where(
                    CustomerContact.customer_id == Customer.id,
                    CustomerContact.email.ilike(pattern, escape="\\"),
                ),
            )
        )
    if after:
        query = query.where(Customer.number > after)
    with reading() as session:
        found = session.scalars(query).all()
    more = len(found) > CUSTOMERS_PER_PAGE
    found = found[:CUSTOMERS_PER_PAGE]
    today = to_tokyo(now()).date()
    audit_view("view_customers", None, q=q)
    return render_template(
        "staff/customers.html",
        title="顧客",
        q=q,
        customers=found,
        today=today,
        next_url=url_for("staff.customers", q=q or None, after=found[-1].number) if more else None,
    )


def customer(customer_id: int) -> Any:
    with reading() as session:
        found = session.scalars(
            select(Customer)
            .where(Customer.id == customer_id)
            .options(
                selectinload(Customer.domains),
                selectinload(Customer.contacts),
                selectinload(Customer.contracts),
            )
        ).one_or_none()
        if found is None:
            abort(404)
        own = (Incident.customer_id == customer_id, visible(Incident.profile))
        counts = dict(
            session.execute(
                select(Incident.contract_id, func.count())
                .where(*own, NOT_MERGED)  # a merged incident never counted (R4)
                .group_by(Incident.contract_id)
            ).all()
        )
        merged = session.scalar(select(func.count()).where(*own, ~NOT_MERGED)) or 0
    contracts = sorted(
        (c for c in found.contracts if may_see(c.profile)),
        key=lambda c: (c.profile, c.period_start),
    )
    audit_view("view_customer", f"customer:{found.number}")
    return render_template(
        "staff/customer.html",
        title=f"{found.company}（{found.number}）",
        customer=found,
        contracts=contracts,
        consumed=counts,
        without_period=counts.get(None, 0),
        merged=merged,
        today=to_tokyo(now()).date(),
    )


def reports() -> Any:
    config = web_context().config
    month = (request.args.get("month") or to_tokyo(now()).strftime("%Y-%m"))[:16]
    try:
        start, end = month_range(month)
    except NotAMonth:
        page = render_template(
            "staff/message.html",
            title="月の指定が正しくありません",
            message=f"「{month}」は月ではありません。2026-12 のように年と月で指定してください。",
        )
        return page, 400
    with reading() as session:
        consumption = [r for r in consumption_rows(session, start, end) if may_see(str(r[2]))]
        lines = billing_lines(session, config, start, end)
        rows = sla_rows(session, config, start, end, now())
        sla = [staff_sla_row(r) for r in rows if may_see(str(r[0]))]
        month_rows = session.execute(
            select(Incident.id, Incident.created_at, Incident.category)
            .where(Incident.created_at >= start, Incident.created_at < end)
            .where(visible(Incident.profile))
            .where(NOT_MERGED)
        ).all()
    shown = {r.id for r in month_rows} if member().profiles else None
    lines = [line for line in lines if shown is None or line.incident in shown]
    days, categories = _counts(start, end, month_rows)
    audit_view("view_reports", None, month=month)
    first = start.date()
    return render_template(
        "staff/reports.html",
        title=f"レポート {month_ja(month)}",
        month=month,
        month_label=month_ja(month),
        previous_month=_shift(first, -1),
        next_month=_shift(first, 1),
        month_ja=month_ja,
        consumption=[staff_consumption_row(row) for row in consumption],
        consumption_headers=CONSUMPTION_HEADERS,
        billing=billing_text_rows([staff_billing_line(line) for line in lines]) if lines else [],
        billing_headers=BILLING_HEADERS,
        days=days,
        categories=categories,
        total=len(month_rows),
        day_chart=charts.per_day(first, [c for _, c in days], f"{month_ja(month)} 日別の受付件数"),
        category_chart=charts.per_category(categories, f"{month_ja(month)} 分類別の受付件数"),
        sla=sla,
        sla_headers=SLA_HEADERS,
        sla_chart=charts.met_and_missed(
            [(_sla_label(r), int(r[4] or 0), int(r[5] or 0)) for r in sla],
            f"{month_ja(month)} 回答期限の達成と超過",
        ),
    )


def _counts(
    start: datetime, end: datetime, rows: list[Any]
) -> tuple[list[tuple[date, int]], list[tuple[str, int]]]:
    """Incidents per Tokyo day of the month and per category (R12: days in Asia/Tokyo)."""
    first = start.astimezone(TOKYO).date()
    length = (end.astimezone(TOKYO).date() - first).days
    per_day = [0] * length
    per_category = dict.fromkeys(CATEGORY_LABELS, 0)
    for row in rows:
        per_day[(to_tokyo(row.created_at).date() - first).days] += 1
        per_category[row.category] = per_category.get(row.category, 0) + 1
    days = [(date.fromordinal(first.toordinal() + i), n) for i, n in enumerate(per_day)]
    return days, [(CATEGORY_LABELS.get(k, k), n) for k, n in per_category.items()]


def _shift(first: date, months: int) -> str:
    index = first.year * 12 + first.month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _sla_label(row: list[Any]) -> str:
    """A report row's customer, as the chart labels it: company (or number) and profile."""
    return f"{row[2] or row[1] or '（社名なし）'}（{row[0]}）"
