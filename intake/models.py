"""The database model of the whole product (SQLAlchemy 2.0, typed).

Every piece of work in flight is a row with a named state, so nothing exists only in memory
(docs/architecture.md, "The two commits"): raw messages, held inquiries, outbox mail and timed
actions.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

# The customer registry's tables are imported from here too (they live in their own module).
from intake.customermodels import Customer as Customer
from intake.customermodels import CustomerContact as CustomerContact
from intake.customermodels import CustomerDomain as CustomerDomain
from intake.customermodels import SupportContract as SupportContract

# The declarative base and the UTC column type are imported from here too (re-exported).
from intake.modelbase import NAMING as NAMING
from intake.modelbase import Base as Base
from intake.modelbase import UtcDateTime as UtcDateTime
from intake.modelbase import utcnow as utcnow

# RawState is imported from here too (its enum moved to intake.states with the others).
from intake.states import IncidentState, OutboxState, RawState


class RawMessage(Base):
    """Bytes as received, committed before anything can fail (R29, docs/rules.md; commit #1 in
    docs/architecture.md, "The two commits")."""

    __tablename__ = "raw_messages"
    __table_args__ = (
        Index("ix_raw_messages_state_id", "state", "id"),
        # Seen twice, stored once (the SMTP and the IMAP copy of one mail stored at the same
        # instant included): the database refuses the second row, and the store finds the first.
        Index("uq_raw_messages_content", "content_hash", "message_id", "profile", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    profile: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    envelope_from: Mapped[str | None] = mapped_column(String(320))
    envelope_to: Mapped[list[str]] = mapped_column(default=list)
    source_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))  # first in uq_raw_messages_content
    size: Mapped[int] = mapped_column(BigInteger)
    spool: Mapped[str | None] = mapped_column(String(128))  # file name under $UKETSUKE_HOME/spool
    state: Mapped[str] = mapped_column(String(16), default=RawState.RECEIVED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]
    # A reply waiting for the mail it answers is processed again from this time (R19).
    not_before: Mapped[datetime | None]
    # R26: the raw bytes of a closed incident's mail were removed after keep_raw_mail_days.
    purged_at: Mapped[datetime | None]
    # The bytes themselves, in their own table (None: kept in the spool file, or purged);
    # loaded with the row, as a column would be (the processor's batches load them only if a
    # step needs them: intake.pipeline).
    raw_bytes: Mapped[RawBytes | None] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def data(self) -> bytes | None:
        """The raw bytes kept in the database (None: in the spool file, or purged)."""
        return self.raw_bytes.data if self.raw_bytes is not None else None

    @data.setter
    def data(self, value: bytes | None) -> None:
        self.raw_bytes = RawBytes(data=value) if value is not None else None


class RawBytes(Base):
    """A raw message's bytes, apart from its row: written once by the door that stored them
    and never rewritten. The raw row's state changes (attempt, processed) then rewrite a small
    row; on SQLite a row whose size changes is written out whole, its overflow pages included,
    and these bytes were most of what the processor wrote (docs/benchmarks.md, "Raw bytes in
    their own table")."""

    __tablename__ = "raw_bytes"

    raw_message_id: Mapped[int] = mapped_column(
        ForeignKey("raw_messages.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Inquiry(Base):
    """An inquiry as received: accepted into incidents, or held for missing fields (R2)."""

    __tablename__ = "inquiries"

    id: Mapped[int] = mapped_column(primary_key=True)
    raw_message_id: Mapped[int | None] = mapped_column(ForeignKey("raw_messages.id"), index=True)
    profile: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    sender: Mapped[str | None] = mapped_column(String(320))
    state: Mapped[str] = mapped_column(String(24), default="held")
    reason: Mapped[str | None] = mapped_column(String(64))
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    missing: Mapped[list[str]] = mapped_column(default=list)
    request_message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]


class Incident(Base):
    """One indivisible inquiry (R3); its id is the incident number shown as [#N]."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_state", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    profile: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    inquiry_id: Mapped[int | None] = mapped_column(ForeignKey("inquiries.id"))
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("support_contracts.id"))
    channel: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32), default="other")
    state: Mapped[str] = mapped_column(String(16), default=IncidentState.OPEN)
    subject: Mapped[str] = mapped_column(Text, default="")
    first_line: Mapped[str] = mapped_column(Text, default="")
    reply_address: Mapped[str | None] = mapped_column(String(320))
    flags: Mapped[list[str]] = mapped_column(default=list)
    # The four fields as the customer stated them (and a fax's number), beside the registry's
    # customer: staff see what was written even when no registry is loaded (R1, R11).
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    linked_incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_staff_answer_at: Mapped[datetime | None]
    last_customer_message_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    cause: Mapped[str | None] = mapped_column(String(32))
    minutes_worked: Mapped[int] = mapped_column(Integer, default=0)
    # The desk (docs/staff.md): who handles it (a staff email, None: unassigned); bumped by every
    # answer and assignment, so a stale answer form is refused; who is writing an answer, since.
    assignee: Mapped[str | None] = mapped_column(String(320), index=True)
    assigned_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=0)
    draft_by: Mapped[str | None] = mapped_column(String(320))
    draft_at: Mapped[datetime | None]
    # Response targets in business hours (docs/rules.md): when the first answer is due, when the
    # answer to the latest follow-up is due (None: nothing due), and when staff first answered.
    first_response_due: Mapped[datetime | None]
    response_due: Mapped[datetime | None] = mapped_column(index=True)
    first_response_at: Mapped[datetime | None]
    # R17: the latest answer's one-click close link; a new answer or a close voids older links.
    close_nonce: Mapped[str | None] = mapped_column(String(64))

    @property
    def number(self) -> int:
        return self.id

    messages: Mapped[list[IncidentMessage]] = relationship(
        back_populates="incident", order_by="IncidentMessage.id"
    )
    customer: Mapped[Customer | None] = relationship()


class IncidentMessage(Base):
    """The thread, both directions, plus internal notes."""

    __tablename__ = "incident_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    direction: Mapped[str] = mapped_column(String(8))  # in | out | note
    raw_message_id: Mapped[int | None] = mapped_column(ForeignKey("raw_messages.id"), index=True)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    author: Mapped[str | None] = mapped_column(String(320))
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="messages")


class AnswerFile(Base):
    """A file a staff member attached on the dashboard to an answer or a note (a mailed one's
    files stay in its stored mail): shown on the incident's thread, downloaded by staff."""

    __tablename__ = "answer_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("incident_messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMail(Base):
    """A mail to send: rendered and given its Message-ID when queued (docs/architecture.md, "The
    two commits")."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    profile: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    recipients: Mapped[list[str]] = mapped_column(default=list)
    # R27: automatic mails count against their recipient's hourly limit.
    automatic: Mapped[bool] = mapped_column(Boolean, default=True)
    rate_key: Mapped[str | None] = mapped_column(String(320), index=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    # 24: awaiting_approval (17) fits (migration 0015)
    state: Mapped[str] = mapped_column(String(24), default=OutboxState.PENDING)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the mail needs when it is sent, not when queued (a license-key request, R14-R16).
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class TimedAction(Base):
    """Timed work as a row with a due time: auto-close, expiry, pages, license mail (R16, R18)."""

    __tablename__ = "timed_actions"
    __table_args__ = (
        Index("ix_timed_actions_state_due", "state", "due_at"),
        Index("ix_timed_actions_incident", "incident_id", "kind"),  # an incident's timers
        Index("ix_timed_actions_inquiry", "inquiry_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(
        String(16), default="pending"
    )  # pending|done|cancelled|failed
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    inquiry_id: Mapped[int | None] = mapped_column(ForeignKey("inquiries.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    reply_secret: Mapped[str] = mapped_column(String(64))
    profiles: Mapped[list[str]] = mapped_column(default=list)  # [] = every profile
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Bumped by logout, ``staff passwd``: every dashboard session opened before ends (R26).
    session_generation: Mapped[int] = mapped_column(Integer, default=0)
    # The desk: away until this day (skipped by round-robin assignment); may approve answers;
    # whose answers need an approver first.
    away_until: Mapped[date | None] = mapped_column(Date)
    approver: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_approval: Mapped[bool] = mapped_column(Boolean, default=False)


class MailboxState(Base):
    """Where an IMAP poller stands in a mailbox, and who holds its lease (docs/architecture.md,
    "Processes and threads")."""

    __tablename__ = "mailbox_state"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires: Mapped[datetime | None]
    # The end of the last poll that worked, or of a stretch of IDLE (``uketsuke health``).
    last_success_at: Mapped[datetime | None]


class CannedAnswer(Base):
    """A canned answer (定型文) with placeholders, for one profile or every profile (None)."""

    __tablename__ = "canned_answers"
    __table_args__ = (UniqueConstraint("name", "profile", name="uq_canned_answers_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    profile: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alarm(Base):
    """One condition operators are told about (``ops_alert`` when it starts, ``ops_resolved``
    when it ends), shared by every instance (docs/operations.md, "Alarms")."""

    __tablename__ = "alarms"

    condition: Mapped[str] = mapped_column(String(255), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    # The last ops_alert / ops_resolved mail delivered (at most one of each per hour).
    alerted_at: Mapped[datetime | None]
    resolved_mailed_at: Mapped[datetime | None]
    # An alert or all-clear decided but not yet delivered (the relay may be the stuck part),
    # and until when one instance has claimed its delivery.
    pending_mail: Mapped[str | None] = mapped_column(String(16))
    sending_until: Mapped[datetime | None]


class AuditEntry(Base):
    """Staff views and actions, and notable automatic decisions (R26)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


def in_models(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic's ``include_object``: migration 0008's search index cannot be said in these
    models (FTS5 tables on SQLite, pg_trgm GIN indexes on PostgreSQL), so comparisons and
    autogenerate leave it alone."""
    if reflected and compare_to is None and name:
        if type_ == "table" and (name == "incident_search" or name.startswith("incident_search_")):
            return False
        if type_ == "index" and name.endswith("_trgm"):
            return False
    return True
