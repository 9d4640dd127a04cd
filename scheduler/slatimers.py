"""Response-target timers (docs/staff.md, "Response targets"): the warning and the breach mail.

Each due time has one ``sla_due`` row (``intake.targets``). Claimed when due (``FOR UPDATE SKIP
LOCKED``, scheduler.jobs), it first sends ``sla_warning`` to the assignee, or to the profile's staff
when nobody is assigned, and is moved to the due time; then it sends ``sla_breach`` to the assignee
and the profile's staff and is done. Each mail goes once per due time, through restarts: the row
changes in the transaction that queues the mail. A row whose due time is no longer the incident's
(answered, closed, replaced) is cancelled without a mail. Staff mail only, never to a customer.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from intake.audit import audit
from intake.config import Config
from intake.desk import find_member
from intake.incidenttag import incident_tag
from intake.labels import ja_short_time
from intake.models import Customer, Incident, TimedAction
from intake.states import OutboxKind
from intake.targets import FIRST, SLA_KIND, WARNING
from responder.notifylinks import dashboard_url
from responder.queue import STAFF, queue_mail
from responder.staffnotify import staff_recipients
from scheduler.jobs import claimed

log = logging.getLogger("uketsuke.sla")

def sla_due(sessions: sessionmaker[Session], config: Config, now: datetime) -> int:
    """Send each due warning or breach mail; how many timers fired."""
    fired = 0
    for session, action in claimed(sessions, SLA_KIND, now):
        incident = session.get(Incident, action.incident_id) if action.incident_id else None
        due = datetime.fromisoformat(action.payload["due"])
        if incident is None or incident.response_due != due:
            action.state = "cancelled"  # answered, closed or replaced meanwhile
            action.done_at = now
            continue
        warning = action.payload.get("stage") == WARNING and now < due
        kind = OutboxKind.SLA_WARNING if warning else OutboxKind.SLA_BREACH
        sent = _send(session, config, incident, action, kind, due, now)
        audit(session, str(kind), incident=incident.id, at=now, detail={"recipients": sent})
        if warning:
            action.payload = {**action.payload, "stage": "breach"}
            action.due_at = due
        else:
            action.state = "done"
            action.done_at = now
        fired += 1
    if fired:
        log.info("sent %s response-target mails", fired)
    return fired


def _recipients(session: Session, config: Config, incident: Incident, breach: bool) -> list[str]:
    """The assignee; the profile's staff as well on a breach, or instead when nobody is assigned."""
    assignee = [incident.assignee] if incident.assignee else []
    if assignee and not breach:
        return assignee
    staff = [r.address for r in staff_recipients(session, config, incident.profile)]
    return list(dict.fromkeys(a.lower() for a in assignee + staff))


def _send(
    session: Session,
    config: Config,
    incident: Incident,
    action: TimedAction,
    kind: OutboxKind,
    due: datetime,
    now: datetime,
) -> int:
    terms = config.profile(incident.profile)
    customer = session.get(Customer, incident.customer_id) if incident.customer_id else None
    stated = incident.fields or {}
    context = {
        "tag": incident_tag(incident.id, terms.tag_prefix),
        "first_line": incident.first_line,
        "subject": incident.subject,
        "first": action.payload.get("target") == FIRST,
        "due": ja_short_time(due),
        "warn_minutes": terms.warn_before_minutes,
        "company": (customer.company if customer else "") or stated.get("company") or "",
        "name": stated.get("name") or "",
        "customer_number": customer.number if customer else stated.get("customer_number"),
        "assignee": _name(session, incident.assignee),
        "link": dashboard_url(config, incident.id) or "",
    }
    recipients = _recipients(session, config, incident, kind == OutboxKind.SLA_BREACH)
    for address in recipients:
        queue_mail(
            session,
            config,
            incident.profile,
            kind=kind,
            to=[address],
            now=now,
            template=str(kind),
            context=context,
            voice=STAFF,
            incident_id=incident.id,
        )
    return len(recipients)


def _name(session: Session, assignee: str | None) -> str:
    """The assignee as staff know them: the account's name, else the address."""
    member = find_member(session, assignee) if assignee else None
    return (member.name if member is not None and member.name else assignee) or ""
