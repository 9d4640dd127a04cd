"""The named states, flags and kinds stored as strings: what code compares and queries with.

Each is a :class:`~enum.StrEnum` whose values are exactly the strings in the database, the JSON
and the templates (no migration: a member *is* its string). Pure: no I/O, so rule modules (the
billing rules) import it as well as the models.
"""

from __future__ import annotations

from enum import StrEnum


class RawState(StrEnum):
    """A stored message's progress (docs/architecture.md, "The two commits")."""

    RECEIVED = "received"  # committed, not yet processed (processed after a restart too)
    PROCESSED = "processed"  # became incidents or joined one
    HELD = "held"  # an inquiry waits for fields, or staff must look (R2, R21)
    IGNORED = "ignored"  # auto-replies, bounces, loops (R27): stored, never answered
    UNPROCESSABLE = "unprocessable"  # the code failed on it: kept for staff and `reprocess` (R29)


class IncidentState(StrEnum):
    OPEN = "open"  # waits for staff
    ANSWERED = "answered"  # staff answered; the auto-close clock runs (R18)
    CLOSED = "closed"  # by staff, the customer's link or the clock (R17, R18), or merged (R3)


class IncidentFlag(StrEnum):
    """What staff are told about an incident (in the order the dashboard lists them)."""

    OUT_OF_SCOPE = "out_of_scope"  # R5: flagged, not rejected
    NO_REPLY_ADDRESS = "no_reply_address"  # R10: never dropped, staff find an address
    SUPPORT_LAPSED = "support_lapsed"  # R25
    NO_SUPPORT_PERIOD = "no_support_period"  # R25
    AFTER_HOURS = "after_hours"  # R22/R23: urgent and received outside business hours
    QUOTA_EXCEEDED = "quota_exceeded"  # R4
    DOMAIN_MISMATCH = "domain_mismatch"  # R2
    NON_JAPANESE = "non_japanese"  # R6
    BOUNCE = "bounce"  # R27: a mail to the customer bounced
    MERGED = "merged"  # R3: merged into its linked incident


class OutboxKind(StrEnum):
    """What an outbox mail is (a templated one's template has the same name)."""

    ACK = "ack"
    ASK_FIELDS = "ask_fields"
    HELD_EXPIRED = "held_expired"
    ANSWER = "answer"
    CLOSED = "closed"
    LICENSE_KEY = "license_key"
    LICENSE_REDIRECT = "license_redirect"
    LICENSE_REFUSED = "license_refused"
    STAFF_NOTIFY = "staff_notify"
    STAFF_ALERT = "staff_alert"
    STAFF_ERROR = "staff_error"
    ONCALL = "oncall"
    # The desk (docs/staff.md)
    STAFF_COLLISION = "staff_collision"  # an answer not relayed: someone else answered first
    APPROVAL_REQUEST = "approval_request"  # to approvers: an answer waits for them
    APPROVAL_RETURNED = "approval_returned"  # to the author: an approver sent the answer back
    # Response targets (docs/rules.md)
    SLA_WARNING = "sla_warning"
    SLA_BREACH = "sla_breach"
    # To operators, straight to the relay (docs/operations.md, "Alarms")
    OPS_ALERT = "ops_alert"
    OPS_RESOLVED = "ops_resolved"


# Mail only staff get: a reply to it is never a customer's follow-up (R19, R21).
INTERNAL_KINDS = (
    OutboxKind.STAFF_NOTIFY,
    OutboxKind.STAFF_ALERT,
    OutboxKind.STAFF_ERROR,
    OutboxKind.ONCALL,
    OutboxKind.STAFF_COLLISION,
    OutboxKind.APPROVAL_REQUEST,
    OutboxKind.APPROVAL_RETURNED,
    OutboxKind.SLA_WARNING,
    OutboxKind.SLA_BREACH,
    OutboxKind.OPS_ALERT,
    OutboxKind.OPS_RESOLVED,
)


class OutboxState(StrEnum):
    PENDING = "pending"  # to be sent when due
    HELD = "held"  # kept back by staff (R15/R16)
    SENT = "sent"
    FAILED = "failed"  # given up after the last attempt
    AWAITING_APPROVAL = "awaiting_approval"  # a staff answer an approver must pass first
    CANCELLED = "cancelled"  # a staff answer taken back within its hold: never sent


# Still to go out: pending, or held by staff.
UNSENT = (OutboxState.PENDING, OutboxState.HELD)
