"""License-key reissue requests (R14–R16): eligibility and the key mail's schedule.

An after-accept step, so a request is handled the same whichever door it came through. For each
incident the classifier put in ``license`` (R5): an identified customer with an active support
period of the profile (and of ``license_product`` when set) on the day of the request is
eligible (R15, R24, R25). An eligible request gets the key mail, due when R14 says, addressed to
the registered contact address(es) only; a requester who is not one of them is told where and
when it goes. An ineligible request is told why, and staff are alerted; so are they when the
key must be issued by hand (no ``license_issuer``, or no contact address to send it to).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.identify import contact_addresses
from intake.incidents import Accepted, CreatedIncident
from intake.incidenttag import incident_tag
from intake.models import Customer, IncidentMessage, RawMessage
from intake.states import OutboxKind
from intake.submission import Intake
from responder.acks import format_ja
from responder.license import date_ja, queue_key_mail, queue_redirect, queue_refused
from responder.queue import Thread
from responder.staffnotify import alert_staff
from scheduler.calendar import to_tokyo
from scheduler.cutoff import license_due
from scheduler.periods import (
    PeriodKind,
    SupportPeriod,
    SupportStatus,
    lapse_year_end,
    support_status,
)

LICENSE = "license"  # the R5 category of a reissue request
# Staff's subject for each reason, and what the customer's mail told them.
REFUSED_REASONS = {
    "lapsed": (
        "ライセンスキー再発行不可（年間サポート期間満了）",
        "年間サポートのご購入が必要な旨をお客様に連絡しました（鍵は送っていません）。",
    ),
    "no_period": (
        "ライセンスキー再発行: 年間サポート期間を確認してください",
        "年間サポート期間の登録がありません。担当者から連絡する旨をお客様に送りました。",
    ),
    "unidentified": (
        "ライセンスキー再発行: お客様を確認してください",
        "顧客台帳で確認できません。担当者から連絡する旨をお客様に送りました。",
    ),
}
# The thread's record of each mail (never the key: R15, R26).
THREAD_NOTES = {
    OutboxKind.LICENSE_KEY: "(ライセンスキーのご案内: 送信時に発行)",
    OutboxKind.LICENSE_REDIRECT: "(ライセンスキー送付先のご案内)",
    OutboxKind.LICENSE_REFUSED: "(ライセンスキー再発行をお受けできない旨のご連絡)",
}


@dataclass(frozen=True)
class Standing:
    """Whether a customer may have a key on a day (R15), and if not, why."""

    reason: str | None  # None: eligible; else a key of REFUSED_REASONS
    product: str = ""  # eligible: the product of the period that covers the day
    last_end: date | None = None  # lapsed: when the last period ended


def license_requests(accepted: Accepted) -> None:
    """R14/R15: queue the key mail of an eligible license request, or say why not."""
    requests = [
        (incident, item.text)
        for incident, item in zip(accepted.incidents, accepted.intake.items, strict=False)
        if incident.category == LICENSE
    ]
    if not requests:
        return
    terms = accepted.config.profile(accepted.intake.profile)
    received = requested_at(accepted.session, accepted.intake)
    found = standing(accepted.customer, accepted.intake.profile, terms.license_product, received)
    # Never due before the mail that completed the request arrived: then it goes at once.
    due = max(license_due(terms.calendar(), received), accepted.intake.received_at)
    for incident, text in requests:
        if found.reason is None:
            _grant(accepted, incident, text, found.product, received, due)
        else:
            _refuse(accepted, incident, found, received)


def requested_at(session: Session, intake: Intake) -> datetime:
    """When the customer asked: R14's cutoff and R15's support period are read at it. An
    inquiry completing a held one counts from its first mail, so that being asked for missing
    fields never costs a day (docs/rules.md, R14, in the customer's favour)."""
    if intake.held is None or intake.held.raw_message_id is None:
        return intake.received_at
    first = session.scalar(
        select(RawMessage.received_at).where(RawMessage.id == intake.held.raw_message_id)
    )
    return min(first, intake.received_at) if first is not None else intake.received_at


def standing(customer: Customer | None, profile: str, product: str, at: datetime) -> Standing:
    """R15 with R24/R25: an active period of ``profile`` (and ``product`` when set) on the Tokyo
    date of ``at``. Products compare by NFKC, case and spaces, as people type them."""
    if customer is None:
        return Standing("unidentified")
    day = to_tokyo(at).date()
    periods = [
        (
            contract.product,
            SupportPeriod(
                PeriodKind(contract.kind),
                contract.coverage_from,
                contract.period_start,
                contract.period_end,
            ),
        )
        for contract in customer.contracts
        if contract.profile == profile and (not product or _same(contract.product, product))
    ]
    status = support_status((period for _, period in periods), day)
    if status == SupportStatus.ACTIVE:
        return Standing(None, next(name for name, p in periods if p.covers(day)))
    ended = [period.end for _, period in periods if period.end < day]
    if status == SupportStatus.LAPSED and ended:
        return Standing("lapsed", last_end=max(ended))
    return Standing("no_period")  # none on record, or only periods not begun: staff check


def _same(a: str, b: str) -> bool:
    def norm(text: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", text).casefold().split())

    return norm(a) == norm(b)


def _grant(
    accepted: Accepted,
    incident: CreatedIncident,
    text: str,
    product: str,
    received: datetime,
    due: datetime,
) -> None:
    """R14/R15: the key mail at ``due`` to the registered contacts; a requester who is not one
    of them is told where and when. Without an issuer or a contact, staff issue it by hand."""
    session, config, intake = accepted.session, accepted.config, accepted.intake
    customer = accepted.customer
    assert customer is not None  # eligible
    profile = intake.profile
    terms = config.profile(profile)
    contacts = contact_addresses(customer)
    tag = _tag(accepted, incident)
    if not terms.license_issuer or not contacts:
        why = (
            "発行プログラム（license_issuer）が設定されていません"
            if contacts
            else "登録連絡先のメールアドレスがありません"
        )
        _alert(
            accepted,
            incident,
            "ライセンスキーを手作業で発行してください",
            [
                why,
                f"送付期限: {format_ja(due)}（登録連絡先にのみ送付してください）",
                *_facts(customer, contacts, received),
            ],
        )
        return
    thread = Thread(intake.message_id, [*intake.references])
    sent = queue_key_mail(
        session,
        config,
        profile,
        incident_id=incident.id,
        to=contacts,
        due=due,
        request={
            "customer_number": customer.number,
            "company": customer.company,
            "product": terms.license_product or product,
            "incident": incident.id,
            "text": text,
        },
        context={
            "tag": tag,
            "company": customer.company,
            "customer_number": customer.number,
            "product": terms.license_product or product,
            "received_at": format_ja(received),
        },
        thread=thread,
        now=accepted.now,
    )
    _note(session, incident, OutboxKind.LICENSE_KEY, sent, accepted.now)
    _tell_strangers(accepted, incident, contacts, due, thread)


def _tell_strangers(
    accepted: Accepted,
    incident: CreatedIncident,
    contacts: list[str],
    due: datetime,
    thread: Thread,
) -> None:
    """R15: a requester who is not a registered contact is told where (masked) and when the
    key goes; it never goes to them."""
    registered = {c.lower() for c in contacts}
    strangers = [a for a in accepted.intake.recipients() if a.lower() not in registered]
    if not strangers:
        return
    redirect = queue_redirect(
        accepted.session,
        accepted.config,
        accepted.intake.profile,
        to=strangers,
        incident_id=incident.id,
        tag=_tag(accepted, incident),
        contacts=contacts,
        due=due,
        thread=thread,
        now=accepted.now,
        fields=accepted.intake.fields,
    )
    _note(accepted.session, incident, OutboxKind.LICENSE_REDIRECT, redirect, accepted.now)


def _refuse(
    accepted: Accepted, incident: CreatedIncident, found: Standing, received: datetime
) -> None:
    """R15: the requester is told why (no key mail), and staff are alerted."""
    assert found.reason is not None
    contacts = contact_addresses(accepted.customer)
    tag = _tag(accepted, incident)
    renewal_until = lapse_year_end(found.last_end) if found.last_end else None
    if renewal_until is not None and to_tokyo(received).date() > renewal_until:
        renewal_until = None  # a year or more after the end: 再継続年間サポート only (R24(3))
    refused = queue_refused(
        accepted.session,
        accepted.config,
        incident.profile,
        to=[incident.reply_address] if incident.reply_address else contacts,
        incident_id=incident.id,
        tag=tag,
        reason=found.reason,
        received_at=received,
        last_end=found.last_end,
        renewal_until=renewal_until,
        thread=Thread(accepted.intake.message_id, [*accepted.intake.references]),
        now=accepted.now,
        fields=accepted.intake.fields,
    )
    _note(accepted.session, incident, OutboxKind.LICENSE_REFUSED, refused, accepted.now)
    headline, told = REFUSED_REASONS[found.reason]
    if refused is None:  # R27's hourly limit, or no address to write to
        told = "お客様へのメールは送られていません。担当者から連絡してください。"
    lines = [told]
    if found.last_end is not None:
        lines.append(f"最後のサポート期間の満了日: {date_ja(found.last_end)}")
    _alert(accepted, incident, headline, [*lines, *_facts(accepted.customer, contacts, received)])


def _tag(accepted: Accepted, incident: CreatedIncident) -> str:
    return incident_tag(incident.id, accepted.config.profile(incident.profile).tag_prefix)


def _facts(customer: Customer | None, contacts: list[str], received: datetime) -> list[str]:
    return [
        f"顧客番号: {customer.number if customer else '(未登録)'}",
        f"社名: {customer.company if customer else '(未登録)'}",
        f"登録連絡先: {', '.join(contacts) or '(なし)'}",
        f"受付: {format_ja(received)}",
    ]


def _alert(accepted: Accepted, incident: CreatedIncident, headline: str, lines: list[str]) -> None:
    """R15: staff hear of every request that needs a person, with the incident tag."""
    tag = _tag(accepted, incident)
    alert_staff(
        accepted.session,
        accepted.config,
        incident.profile,
        subject=f"{tag} {headline}",
        body="\n".join([f"{tag} {headline}", "", *lines, ""]),
        now=accepted.now,
        incident_id=incident.id,
    )


def _note(
    session: Session,
    incident: CreatedIncident,
    kind: OutboxKind,
    message_id: str | None,
    now: datetime,
) -> None:
    """The mail joins the incident's thread, so the customer's reply to it finds the incident
    (R19); nothing when R27's hourly limit held it back."""
    if message_id is None:
        return
    session.add(
        IncidentMessage(
            incident_id=incident.id,
            direction="out",
            message_id=message_id,
            body=THREAD_NOTES[kind],
            created_at=now,
        )
    )
