"""Alarms: operators are told by mail when a part stops moving, and again when it moves.

A *condition* is one part stuck (docs/operations.md, "Alarms"): the stored messages waiting, the
outbox's oldest due mail or an IMAP mailbox's last successful poll older than ``[alerts]
stuck_minutes``, or a processor that died or stopped beating. Each condition has one row in
``alarms``, shared by every instance, so two instances never tell operators twice. When a
condition starts, an ``ops_alert`` mail is due; when it ends, an ``ops_resolved`` mail (only if
its alert went out). At most one of each per condition per hour: a condition that keeps coming
back within the hour is mailed once, and an alert held back by that limit goes out when the hour
is over if the condition still holds.

This module decides (in a short transaction; on PostgreSQL under the row's lock) and claims each
due mail for two minutes; ``intake.alarmwatch`` delivers it straight to the relay, outside any
transaction, and records the delivery here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.models import Alarm
from intake.states import OutboxKind

log = logging.getLogger("uketsuke.alarms")

ALERT = "alert"
RESOLVED = "resolved"
# At most one ops_alert and one ops_resolved mail per condition in this span.
MAIL_EVERY = timedelta(hours=1)
# How long an instance has to deliver a mail it claimed before another may try.
CLAIM = timedelta(minutes=2)


@dataclass(frozen=True)
class Due:
    """An alarm mail claimed for delivery."""

    condition: str
    kind: OutboxKind
    text: str  # what is (or was) stuck, in Japanese
    started_at: datetime


def _locked(session: Session, condition: str) -> Alarm | None:
    return session.scalars(
        select(Alarm).where(Alarm.condition == condition).with_for_update()
    ).first()


def _start(session: Session, row: Alarm | None, condition: str, text: str, now: datetime) -> None:
    if row is None:
        session.add(
            Alarm(condition=condition, active=True, detail=text, started_at=now, pending_mail=ALERT)
        )
        log.error("alarm: %s: %s", condition, text)
        return
    row.detail = text
    if row.active:
        return
    row.active = True
    row.resolved_at = None
    if row.pending_mail == RESOLVED:
        # Back before its all-clear went out: for operators it never ended.
        row.pending_mail = None
        log.error("alarm: %s again before its all-clear was mailed: %s", condition, text)
        return
    row.started_at = now
    row.pending_mail = ALERT
    log.error("alarm: %s: %s", condition, text)


def _end(row: Alarm, now: datetime) -> None:
    row.active = False
    row.resolved_at = now
    told = row.alerted_at is not None and row.started_at is not None
    told = told and row.alerted_at >= row.started_at  # type: ignore[operator]
    row.pending_mail = RESOLVED if told else None
    log.warning("alarm resolved: %s (%s)", row.condition, row.detail)


def _claim(row: Alarm, now: datetime) -> Due | None:
    if row.pending_mail is None or (row.sending_until is not None and row.sending_until > now):
        return None
    last = row.alerted_at if row.pending_mail == ALERT else row.resolved_mailed_at
    if last is not None and now - last < MAIL_EVERY:
        return None  # the hour's mail of this kind went out: later, if it still applies
    row.sending_until = now + CLAIM
    kind = OutboxKind.OPS_ALERT if row.pending_mail == ALERT else OutboxKind.OPS_RESOLVED
    return Due(row.condition, kind, row.detail, row.started_at or now)


def update(
    session: Session, judged: Iterable[str], active: Mapping[str, str], now: datetime
) -> list[Due]:
    """Record which of the ``judged`` conditions hold (``active``: condition → text) and claim
    the alarm mails due now, in the caller's transaction."""
    due = []
    for condition in sorted(set(judged) | set(active)):
        row = _locked(session, condition)
        if condition in active:
            _start(session, row, condition, active[condition], now)
            row = row or _locked(session, condition)
        elif row is not None and row.active:
            _end(row, now)
        if row is not None and (claimed := _claim(row, now)) is not None:
            due.append(claimed)
    return due


def delivered(session: Session, due: Due, now: datetime) -> None:
    """The mail ``due`` went out: it counts for the hour."""
    row = _locked(session, due.condition)
    if row is None:
        return
    row.sending_until = None
    if due.kind == OutboxKind.OPS_ALERT:
        row.alerted_at = now
        if row.pending_mail == ALERT:
            row.pending_mail = None
    else:
        row.resolved_mailed_at = now
        if row.pending_mail == RESOLVED:
            row.pending_mail = None


def undelivered(session: Session, due: Due) -> None:
    """The relay refused it: the next check tries again."""
    row = _locked(session, due.condition)
    if row is not None:
        row.sending_until = None


def active_alarms(session: Session) -> list[Alarm]:
    """What holds now, oldest first (the dashboard's banner, ``/metrics``)."""
    return list(
        session.scalars(select(Alarm).where(Alarm.active.is_(True)).order_by(Alarm.started_at))
    )
