"""The monthly response-target report (``uketsuke report sla``, the dashboard's reports page).

One row per profile and customer with incidents accepted in the month (Asia/Tokyo, as the other
reports in :mod:`intake.reports`): how many, how many first answers came within their target, how
many due times were missed, and the median and 90th percentile of the first-response time.

Readings (docs/staff.md, "Response targets"):

* A first answer is *within target* when ``first_response_at <= first_response_due``. Incidents
  without a target (the profile's ``first_response_hours`` is 0) count in ``incidents`` only.
* *Breaches* count every due time missed: a first answer that came late, or has not come and
  its due time has passed (judged at ``now``), plus each follow-up due time whose ``sla_breach``
  mail was sent (an ``sla_due`` timer of the follow-up target that ended ``done``).
* The first-response time is business time on the profile's calendar from the incident's
  acceptance to the first staff answer, in hours with one decimal; incidents not answered yet
  are left out. The 90th percentile is the nearest-rank one (the smallest time at least 90% of
  the answers took no longer than).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.models import Customer, Incident, TimedAction
from intake.reports import NOT_MERGED, Cell, one_line, stated_company
from intake.targets import FOLLOW_UP, SLA_KIND
from scheduler.businesstime import business_time_between

if TYPE_CHECKING:
    from intake.config import Config

SLA_COLUMNS = (
    "profile",
    "customer_number",
    "company",
    "incidents",
    "first_responses_within_target",
    "breaches",
    "median_first_response_hours",
    "p90_first_response_hours",
)


def sla_rows(
    session: Session, config: Config, start: datetime, end: datetime, now: datetime
) -> list[list[Cell]]:
    """One row per profile and customer with incidents accepted in [start, end) (SLA_COLUMNS)."""
    month = session.execute(
        select(
            Incident.id,
            Incident.profile,
            Incident.customer_id,
            Incident.fields,
            Incident.created_at,
            Incident.first_response_due,
            Incident.first_response_at,
        ).where(Incident.created_at >= start, Incident.created_at < end, NOT_MERGED)
    ).all()
    late_follow_ups = _late_follow_ups(session, start, end)
    groups: dict[tuple[str, int | None, str], list] = defaultdict(list)
    for row in month:
        stated = "" if row.customer_id is not None else stated_company(row.fields)
        groups[(row.profile, row.customer_id, stated)].append(row)
    registered = sorted({k[1] for k in groups if k[1] is not None})
    query = select(Customer).where(Customer.id.in_(registered))
    customers = {c.id: c for c in session.scalars(query)}
    rows: list[list[Cell]] = []
    for (profile, customer_id, stated), incidents in groups.items():
        calendar = config.profile(profile).calendar()
        customer = customers.get(customer_id) if customer_id is not None else None
        within = breaches = 0
        times: list[timedelta] = []
        for i in incidents:
            answered, due = i.first_response_at, i.first_response_due
            if answered is not None:
                times.append(business_time_between(calendar, i.created_at, answered))
            if due is not None and answered is not None and answered <= due:
                within += 1
            elif due is not None and (answered is not None or due < now):
                breaches += 1
            breaches += late_follow_ups.get(i.id, 0)
        rows.append(
            [
                profile,
                customer.number if customer else "",
                one_line(customer.company) if customer else stated,
                len(incidents),
                within,
                breaches,
                _hours(statistics.median(times)) if times else None,
                _hours(_nearest_rank(times, 0.9)) if times else None,
            ]
        )
    # By profile; registered customers by number, then unregistered ones by stated company.
    return sorted(rows, key=lambda r: (str(r[0]), r[1] == "", str(r[1]), str(r[2])))


def _late_follow_ups(session: Session, start: datetime, end: datetime) -> dict[int, int]:
    """Follow-up due times missed, per incident accepted in [start, end): their breach mail
    was sent."""
    query = (
        select(TimedAction.incident_id, TimedAction.payload)
        .join(Incident, Incident.id == TimedAction.incident_id)
        .where(
            TimedAction.kind == SLA_KIND,
            TimedAction.state == "done",
            Incident.created_at >= start,
            Incident.created_at < end,
        )
    )
    late: dict[int, int] = defaultdict(int)
    for incident_id, payload in session.execute(query):
        if (payload or {}).get("target") == FOLLOW_UP:
            late[incident_id] += 1
    return late


def _nearest_rank(times: list[timedelta], share: float) -> timedelta:
    ordered = sorted(times)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def _hours(span: timedelta) -> str:
    """Business time in hours, one decimal: ``1.5``."""
    return f"{span.total_seconds() / 3600:.1f}"
