"""``GET /metrics``: the Prometheus text format, read from the database when scraped (issue 15).

Counts that live in the database are read from it on every scrape, so every instance sharing
one database reports the same truth and a restart resets nothing: the doors' intake by door, the
processor's outcomes, what waits and for how long, incidents by profile and channel, the outbox,
each IMAP mailbox's last successful poll and overdue timers. Only the processor's restarts are
this instance's own. Names are fixed (scripts and dashboards depend on them): see
docs/operations.md, "Monitoring".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select, union
from sqlalchemy.orm import Session, sessionmaker

from intake.alarms import active_alarms
from intake.health import oldest_undelivered
from intake.models import (
    Incident,
    IncidentMessage,
    Inquiry,
    MailboxState,
    OutboxMail,
    RawMessage,
    TimedAction,
)
from intake.states import OutboxState, RawState

DOORS = ("smtp", "imap", "fax", "web")
OUTCOMES = ("incident", "follow_up", "held", "ignored", "unprocessable")
# A timer is overdue once its job had a tick to fire it (the jobs tick every 30-60 s).
OVERDUE_AFTER = timedelta(minutes=2)


class DatabaseCollector:
    """One scrape: a few aggregate queries in one read transaction."""

    def __init__(
        self, sessions: sessionmaker[Session], restarts: Callable[[], int] | None = None
    ) -> None:
        self.sessions = sessions
        self.restarts = restarts

    def collect(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        with self.sessions() as session:
            yield from self._intake(session, now)
            yield from self._incidents(session)
            yield from self._outbox(session, now)
            yield from self._mailboxes(session)
            yield from self._alarms(session)
            overdue = session.scalar(
                select(func.count())
                .select_from(TimedAction)
                .where(TimedAction.state == "pending", TimedAction.due_at <= now - OVERDUE_AFTER)
            )
            yield GaugeMetricFamily(
                "uketsuke_timers_overdue",
                "Timed actions (auto-close, key mail, held expiry) past due and not done",
                value=overdue or 0,
            )
        restarts = CounterMetricFamily(
            "uketsuke_processor_restarts",
            "Restarts of this instance's processor process by its supervisor",
        )
        restarts.add_metric([], self.restarts() if self.restarts is not None else 0)
        yield restarts

    def _intake(self, session: Session, now: datetime) -> Iterator[Metric]:
        by_channel = dict(
            session.execute(
                select(RawMessage.channel, func.count()).group_by(RawMessage.channel)
            ).all()
        )
        fax_raws = union(
            select(Inquiry.raw_message_id).where(Inquiry.channel == "fax"),
            select(IncidentMessage.raw_message_id)
            .join(Incident, Incident.id == IncidentMessage.incident_id)
            .where(Incident.channel == "fax"),
        ).subquery()
        fax = dict(
            session.execute(
                select(RawMessage.channel, func.count())
                .where(RawMessage.id.in_(select(fax_raws.c[0])))
                .group_by(RawMessage.channel)
            ).all()
        )
        received = CounterMetricFamily(
            "uketsuke_messages_received", "Messages stored by each door", labels=["door"]
        )
        for door in DOORS:
            if door == "fax":  # a fax gateway's mail came in by SMTP or IMAP
                received.add_metric([door], sum(fax.values()))
            else:
                received.add_metric([door], by_channel.get(door, 0) - fax.get(door, 0))
        yield received

        states = dict(
            session.execute(
                select(RawMessage.state, func.count()).group_by(RawMessage.state)
            ).all()
        )
        firsts = (
            select(func.min(IncidentMessage.id))
            .where(IncidentMessage.direction == "in")
            .group_by(IncidentMessage.incident_id)
        )
        incoming = (
            select(IncidentMessage.raw_message_id)
            .where(IncidentMessage.direction == "in", IncidentMessage.raw_message_id.is_not(None))
            .distinct()
        )
        counts = {
            "incident": _count(session, incoming.where(IncidentMessage.id.in_(firsts))),
            "follow_up": _count(session, incoming.where(IncidentMessage.id.not_in(firsts))),
            "held": states.get(RawState.HELD, 0),
            "ignored": states.get(RawState.IGNORED, 0),
            "unprocessable": states.get(RawState.UNPROCESSABLE, 0),
        }
        processed = CounterMetricFamily(
            "uketsuke_messages_processed",
            "Stored messages by what processing made of them",
            labels=["outcome"],
        )
        for outcome in OUTCOMES:
            processed.add_metric([outcome], counts[outcome])
        yield processed

        waiting = session.execute(
            select(func.count(), func.min(RawMessage.received_at)).where(
                RawMessage.state == RawState.RECEIVED
            )
        ).one()
        yield GaugeMetricFamily(
            "uketsuke_raw_waiting", "Stored messages waiting to be processed", value=waiting[0]
        )
        yield GaugeMetricFamily(
            "uketsuke_oldest_waiting_seconds",
            "Age of the oldest stored message waiting to be processed (0: none)",
            value=_age(now, waiting[1]),
        )

    def _incidents(self, session: Session) -> Iterator[Metric]:
        created = CounterMetricFamily(
            "uketsuke_incidents_created",
            "Incidents created, by profile and channel",
            labels=["profile", "channel"],
        )
        for profile, channel, count in session.execute(
            select(Incident.profile, Incident.channel, func.count()).group_by(
                Incident.profile, Incident.channel
            )
        ):
            created.add_metric([profile, channel], count)
        yield created

    def _outbox(self, session: Session, now: datetime) -> Iterator[Metric]:
        pending = GaugeMetricFamily(
            "uketsuke_outbox_pending", "Outbox mails waiting to be sent", labels=["kind"]
        )
        for kind, count in session.execute(
            select(OutboxMail.kind, func.count())
            .where(OutboxMail.state == OutboxState.PENDING)
            .group_by(OutboxMail.kind)
        ):
            pending.add_metric([kind], count)
        yield pending
        oldest = oldest_undelivered(session, now)
        yield GaugeMetricFamily(
            "uketsuke_outbox_oldest_due_seconds",
            "How long the oldest due outbox mail has waited (0: none)",
            value=_age(now, oldest),
        )
        attempts, sent = session.execute(
            select(
                func.coalesce(func.sum(OutboxMail.attempts), 0),
                func.count().filter(OutboxMail.state == OutboxState.SENT),
            )
        ).one()
        failures = CounterMetricFamily(
            "uketsuke_outbox_failures", "Failed delivery attempts of outbox mail"
        )
        failures.add_metric([], max(int(attempts) - int(sent), 0))
        yield failures

    def _mailboxes(self, session: Session) -> Iterator[Metric]:
        last = GaugeMetricFamily(
            "uketsuke_imap_last_success_timestamp_seconds",
            "When each IMAP mailbox was last polled successfully (Unix time)",
            labels=["mailbox"],
        )
        for name, at in session.execute(
            select(MailboxState.name, MailboxState.last_success_at).where(
                MailboxState.last_success_at.is_not(None)
            )
        ):
            last.add_metric([name], at.timestamp())
        yield last


    def _alarms(self, session: Session) -> Iterator[Metric]:
        active = GaugeMetricFamily(
            "uketsuke_alarm_active",
            "1 for each alarm condition that holds now (docs/operations.md, \"Alarms\")",
            labels=["condition"],
        )
        for alarm in active_alarms(session):
            active.add_metric([alarm.condition], 1)
        yield active


def _count(session: Session, statement: Any) -> int:
    return session.scalar(select(func.count()).select_from(statement.subquery())) or 0


def _age(now: datetime, since: datetime | None) -> float:
    return max((now - since).total_seconds(), 0.0) if since is not None else 0.0


def exposition(sessions: sessionmaker[Session], restarts: Callable[[], int] | None) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(sessions, restarts))  # type: ignore[arg-type]
    return generate_latest(registry)
