"""Composing outgoing mail: threading headers, charsets and loop-safe headers (R10, R27, R28).

Every mail to a customer is an email (R10), from the profile's support address, threaded to the
customer's mail, marked ``Auto-Submitted`` when automatic and carrying our loop header so that it
is recognised if it ever comes back (R27).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from intake.mail.loops import LOOP_HEADER


def new_message_id(sender_address: str) -> str:
    domain = sender_address.rpartition("@")[2] or "uketsuke.invalid"
    return f"<uk.{uuid.uuid4().hex}@{domain}>"


@dataclass
class OutgoingMail:
    sender: str
    sender_name: str
    to: list[str]
    subject: str
    body: str
    message_id: str
    date: datetime
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    automatic: str | None = "auto-replied"  # RFC 3834; None for a staff answer relayed
    charset: str = "utf-8"
    profile: str = ""


def _address(address: str, name: str = "") -> Address:
    local, _, domain = address.partition("@")
    return Address(display_name=name, username=local, domain=domain)


def compose(mail: OutgoingMail) -> bytes:
    """The mail's bytes (CRLF, 7-bit safe). ISO-2022-JP when asked and every character fits."""
    message = EmailMessage(policy=SMTP)
    message["From"] = _address(mail.sender, mail.sender_name)
    message["To"] = ", ".join(mail.to)
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(mail.date)
    message["Message-ID"] = mail.message_id
    if mail.in_reply_to:
        message["In-Reply-To"] = mail.in_reply_to
    references = list(
        dict.fromkeys(mail.references + ([mail.in_reply_to] if mail.in_reply_to else []))
    )
    if references:
        message["References"] = " ".join(references)
    if mail.automatic:
        message["Auto-Submitted"] = mail.automatic
        message["X-Auto-Response-Suppress"] = "All"
    message[LOOP_HEADER] = mail.profile or "uketsuke"
    if mail.charset == "iso-2022-jp" and _fits_iso2022jp(mail.body):
        message.set_content(mail.body.encode("iso2022_jp"), "text", "plain", cte="7bit")
        message.set_param("charset", "ISO-2022-JP")
    else:
        message.set_content(mail.body, charset="utf-8", cte="base64")
    return message.as_bytes()


def _fits_iso2022jp(text: str) -> bool:
    try:
        text.encode("iso2022_jp")
    except UnicodeEncodeError:
        return False
    return True
