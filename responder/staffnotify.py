"""Staff mail (R20, R21): notifications of new incidents and follow-ups, and alerts.

Every staff member of a profile gets each new incident and each customer follow-up by mail, one
mail each (once an incident has an assignee, to the assignee only: docs/staff.md, the desk),
with a Reply-To of the support address carrying that member's token (answering by mail,
``intake.stafftoken``). Addresses in the profile's ``staff_addresses`` that have no account get
the same mail without a token: they can read but not answer by mail. Staff mail is internal:
``Auto-Submitted: auto-generated`` (no auto-responder answers it) and never counted against a
customer's R27 hourly limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.config import Config
from intake.desk import is_away
from intake.fieldnames import stated_fields
from intake.incidents import Accepted, item_text
from intake.incidenttag import incident_tag
from intake.labels import (
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    FLAG_LABELS,
    TIMER_LABELS,
    ja_day,
    ja_short_time,
    ja_time,
    label,
    labels_of,
)
from intake.models import Customer, Incident, OutboxMail, StaffUser, TimedAction
from intake.replykey import reply_key
from intake.stafftoken import reply_address
from intake.states import UNSENT, OutboxKind
from intake.targets import SLA_KIND
from responder.notifylinks import (
    Attachment,
    attachment_lines,
    dashboard_url,
    first_notifications,
    linked_incident,
    thread_for,
)
from responder.queue import STAFF, queue_mail
from scheduler.calendar import to_tokyo

# Everything from this line down is the notification, cut from a staff member's answer (R20).
# Answers are cut at REPLY_MARKER_TEXT, which older notifications' marker lines carry too.
REPLY_MARKER_TEXT = "この行より上に回答をお書きください"
REPLY_MARKER = f"##- {REPLY_MARKER_TEXT} -##"


@dataclass(frozen=True)
class StaffRecipient:
    address: str
    account: StaffUser | None  # None: a staff_addresses entry without an account (no token)


def _active_accounts(session: Session) -> list[StaffUser]:
    """Every active account, read once a transaction: the processor asks for every incident and
    follow-up of a batch (one transaction), and accounts change by other commands."""
    transaction = session.get_transaction()
    cached = session.info.get(_ACCOUNTS)
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cached[1]
    users = list(
        session.scalars(select(StaffUser).where(StaffUser.active.is_(True)).order_by(StaffUser.id))
    )
    if transaction is not None:
        session.info[_ACCOUNTS] = (transaction, users)
    return users


_ACCOUNTS = "uketsuke.active_staff_accounts"


def staff_accounts(session: Session, profile: str) -> list[StaffUser]:
    """Active accounts working for ``profile`` (an account naming no profile works for all)."""
    return [u for u in _active_accounts(session) if not u.profiles or profile in u.profiles]


def staff_recipients(session: Session, config: Config, profile: str) -> list[StaffRecipient]:
    accounts = staff_accounts(session, profile)
    known = {u.email.lower() for u in accounts}
    extra = [
        StaffRecipient(a.lower(), None)
        for a in dict.fromkeys(config.profile(profile).staff_addresses)
        if a.lower() not in known
    ]
    return [StaffRecipient(u.email, u) for u in accounts] + extra


def alert_staff(
    session: Session,
    config: Config,
    profile: str,
    *,
    subject: str,
    body: str,
    now: datetime,
    incident_id: int | None = None,
    kind: OutboxKind = OutboxKind.STAFF_ALERT,
) -> int:
    """Tell every staff member of ``profile`` something that needs a person (no token: an alert
    is not answered by mail). Returns how many mails were queued."""
    recipients = staff_recipients(session, config, profile)
    for recipient in recipients:
        queue_mail(
            session,
            config,
            profile,
            kind=kind,
            to=[recipient.address],
            now=now,
            subject=subject,
            body=body,
            voice=STAFF,
            incident_id=incident_id,
        )
    return len(recipients)


def notify_staff_of_new_incidents(accepted: Accepted) -> None:
    """R20: every staff member of the profile gets each new incident by mail."""
    session = accepted.session
    recipients = staff_recipients(session, accepted.config, accepted.intake.profile)
    if not recipients:
        return  # nobody to tell: no look-ups on the intake path
    for created in accepted.incidents:
        incident = session.get(Incident, created.id)
        assert incident is not None
        text = item_text(session, incident.id) or incident.subject
        notify_staff(
            session,
            accepted.config,
            incident,
            text=text,
            now=accepted.now,
            recipients=recipients,
            attachments=accepted.intake.attachments,
        )


def notify_staff(
    session: Session,
    config: Config,
    incident: Incident,
    *,
    text: str,
    now: datetime,
    follow_up: bool = False,
    recipients: list[StaffRecipient] | None = None,
    attachments: Sequence[Attachment] = (),
) -> int:
    """One notification per staff recipient of the incident's profile (``recipients``, when the
    caller looked them up already); how many were queued. A follow-up's notification is threaded
    under each member's first one (``responder.notifylinks``)."""
    if recipients is None:
        recipients = staff_recipients(session, config, incident.profile)
    today = to_tokyo(now).date()
    assignee = _assignee(recipients, incident)
    recipients = for_assignee(recipients, incident, today)
    if not recipients:
        return 0
    terms = config.profile(incident.profile)
    tag = incident_tag(incident.id, terms.tag_prefix)
    key = reply_key(config) if any(r.account is not None for r in recipients) else ""
    customer = session.get(Customer, incident.customer_id) if incident.customer_id else None
    context = {
        "tag": tag,
        "follow_up": follow_up,
        "first_line": incident.first_line,
        "reply_marker": REPLY_MARKER,
        "channel": label(CHANNEL_LABELS, incident.channel),
        "category": label(CATEGORY_LABELS, incident.category),
        "urgent": incident.urgent,
        "customer_number": customer.number if customer else None,
        "customer_company": customer.company if customer else "",
        "fields": stated_fields(incident.fields),
        "reply_address": incident.reply_address,
        "flags": labels_of(FLAG_LABELS, list(incident.flags)),
        "timers": _timers(session, incident, today),
        "due": ja_short_time(incident.response_due) if incident.response_due else None,
        "text": text,
        "dashboard_url": dashboard_url(config, incident.id),
        "attachments": attachment_lines(attachments),
        "linked": linked_incident(session, config, incident),
        "assignee": assignee.account.name if assignee else incident.assignee or "",
        "assignee_away_until": _away_until(assignee, today),
    }
    first = first_notifications(session, incident.id) if follow_up else {}
    for recipient in recipients:
        account = recipient.account
        queue_mail(
            session,
            config,
            incident.profile,
            kind=OutboxKind.STAFF_NOTIFY,
            to=[recipient.address],
            now=now,
            template="staff_notify",
            context={**context, "can_answer": account is not None},
            voice=STAFF,
            incident_id=incident.id,
            thread=thread_for(first, recipient),
            reply_to=(
                reply_address(
                    terms.support_address,
                    key,
                    account.reply_secret,
                    account.id,
                    account.email,
                    incident.id,
                    to_tokyo(now).date(),  # R21: the token expires staff.token_days after it
                )
                if account is not None
                else None
            ),
        )
    return len(recipients)


def for_assignee(
    recipients: list[StaffRecipient], incident: Incident, today: date
) -> list[StaffRecipient]:
    """An assigned incident is mailed to its assignee only; an unassigned one (or one whose
    assignee is no longer an active account of the profile) to every staff member. While the
    assignee is away (``uketsuke staff away``), to every staff member who is not: a customer's
    follow-up must not wait unread for someone's return (docs/staff.md)."""
    assignee = (incident.assignee or "").lower()
    mine = [r for r in recipients if assignee and r.address.lower() == assignee]
    member = _assignee(mine, incident)
    if member is not None and member.account is not None and is_away(member.account, today):
        present = [r for r in recipients if r.account is None or not is_away(r.account, today)]
        return present or recipients
    return mine or recipients


def _assignee(recipients: list[StaffRecipient], incident: Incident) -> StaffRecipient | None:
    """The recipient with an account who is the incident's assignee, if any."""
    assignee = (incident.assignee or "").lower()
    found = [r for r in recipients if r.account and assignee and r.address.lower() == assignee]
    return found[0] if found else None


def _away_until(assignee: StaffRecipient | None, today: date) -> str | None:
    """``12月8日（火）`` while the assignee is away (through that day), else None."""
    account = assignee.account if assignee else None
    if account is None or account.away_until is None or not is_away(account, today):
        return None  # (is_away says so too; the check tells the type checker)
    return ja_day(account.away_until)


def _timers(session: Session, incident: Incident, today: date) -> list[str]:
    """Pending timers of the incident, for the staff (R16, R18)."""
    lines = [
        f"{label(TIMER_LABELS, t.kind)}: {ja_time(t.due_at, today)}"
        for t in session.scalars(
            select(TimedAction)
            .where(TimedAction.incident_id == incident.id, TimedAction.state == "pending")
            .where(TimedAction.kind != SLA_KIND)  # shown as 回答期限
            .order_by(TimedAction.due_at)
        )
    ]
    lines += [
        f"{TIMER_LABELS['license_mail']}: {ja_time(o.due_at, today)}"
        for o in session.scalars(
            select(OutboxMail).where(
                OutboxMail.incident_id == incident.id,
                OutboxMail.kind == OutboxKind.LICENSE_KEY,
                OutboxMail.state.in_(UNSENT),
            )
        )
    ]
    return lines
