"""The one value every door hands to ``accept`` (one pipeline, many doors: docs/architecture.md,
"The flow of one message").

Mail (SMTP, IMAP), fax, phone, ``reprocess`` and staff-entered inquiries each turn their input
into an :class:`Intake`; identification (R2), consumption (R4), support status (R25), holding
(R2, R8) and the acknowledgment (R10) then run the same code for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from intake.mail.parse import AttachmentInfo
    from intake.models import Customer, Inquiry


@dataclass
class Item:
    """One indivisible inquiry (R3): one incident once accepted."""

    text: str
    category: str
    urgent: bool
    matter: str | None = None  # intake.summary.matter_line of text, when the parser gave it


@dataclass
class Intake:
    """An inquiry as a door received it.

    ``reply_to`` None answers the sender; an empty list answers the customer's registered
    contact (R10: fax and phone). ``held`` is the held inquiry this one completes (R2);
    ``linked_incident_id`` and ``customer`` come with a follow-up to a closed incident, whose
    customer was identified when it was first accepted (R19).
    """

    channel: str
    profile: str
    fields: dict[str, str | None]
    items: list[Item]
    subject: str
    received_at: datetime
    sender: str | None = None
    reply_to: list[str] | None = None
    raw_message_id: int | None = None
    message_id: str | None = None
    references: list[str] = field(default_factory=list)
    language: str = "ja"
    ask_for_fields: bool = True  # False: held for staff to key in (a fax, R11), nobody asked
    hold_reason: str = "missing_fields"
    held: Inquiry | None = None
    linked_incident_id: int | None = None
    customer: Customer | None = None
    attachments: list[AttachmentInfo] = field(default_factory=list)  # listed to staff (R20)

    def recipients(self) -> list[str]:
        """Where answers go before the registry is asked (R10)."""
        if self.reply_to is not None:
            return [a for a in self.reply_to if a]
        return [self.sender] if self.sender else []
