"""Bounces: RFC 3464 delivery status notifications and unmistakable non-DSN bounces (R27)."""

from __future__ import annotations

import re

from intake.mail.access import header
from intake.mail.mime import Part, locate_head, parse_headers

_BOUNCE_SUBJECT = re.compile(
    r"(undeliver|delivery (status|failure|has failed|notification)|returned mail|"
    r"mail delivery (failed|failure|subsystem)|failure notice|non.?delivery|"
    r"delivery report|mail failure|not (be )?delivered|"
    r"配信不能|配送エラー|送信エラー|配信エラー|宛先不明|配信状態)",
    re.IGNORECASE,
)
_BOUNCE_SENDER = re.compile(
    r"^(mailer-daemon|mailer_daemon|mail-daemon|postmaster|mail\.delivery\.system|"
    r"mail-delivery-system)\b",
    re.IGNORECASE,
)
_MESSAGE_ID_LINE = re.compile(r"(?im)^message-id:\s*(<[^<>\s]+>)")
_MSGID = re.compile(r"<[^<>\s]+>")
_RETURNED = ("message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers")
_DSN_PARTS = ("message/delivery-status", "message/global-delivery-status")
MAX_RETURNED_HEAD = 256 * 1024  # headers of a returned message beyond this are not read


def is_bounce(root: Part, sender: str | None, subject: str) -> bool:
    """RFC 3464 DSNs, and non-DSN bounces that are unmistakable (a daemon sender and a bounce
    subject, or X-Failed-Recipients). Read receipts and abuse reports are not bounces."""
    message = root.headers
    subject_says = bool(_BOUNCE_SUBJECT.search(subject[:300]))
    if message.get_content_type() == "multipart/report":
        report_type = str(message.get_param("report-type") or "").lower()
        if report_type == "delivery-status":
            return True
        if any(p.content_type in _DSN_PARTS for p in root.children):
            return True
        if report_type and report_type != "delivery-status" and not subject_says:
            return False
    if subject_says and (not sender or _BOUNCE_SENDER.match(sender)):
        return True  # a daemon, or the null sender <> that RFC 5321 gives bounces
    return bool(header(message, "X-Failed-Recipients") and subject_says)


def _returned_head(part: Part) -> bytes:
    """The header block of a returned message, read no further than MAX_RETURNED_HEAD bytes:
    a bounce may carry the whole original mail, attachments and all (R29)."""
    end = min(part.end, part.start + MAX_RETURNED_HEAD)
    head_end, _ = locate_head(part.buffer, part.start, end)
    return part.buffer[part.start : head_end]


def bounce_of(root: Part, body: str) -> str | None:
    """The Message-ID of the mail a bounce reports: from the returned headers of the DSN."""
    for part in root.walk():
        if part.content_type in _RETURNED:
            value = header(parse_headers(_returned_head(part)), "Message-ID")
            match = _MSGID.search(value)
            if match:
                return match.group(0)
    match = _MESSAGE_ID_LINE.search(body)
    return match.group(1) if match else None
