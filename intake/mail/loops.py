"""Loop protection: recognise automatic mail so no automatic mail answers it (R27)."""

from __future__ import annotations

import re
from email.message import Message

from intake.mail.access import header

LOOP_HEADER = "X-Uketsuke-Loop"
"""Set on every mail uketsuke sends: a message carrying it is one of ours coming back."""

_ROBOT_LOCALPART = re.compile(
    r"^(mailer-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?|auto[-_.]?reply)"
    r"([+-].*)?$",
    re.IGNORECASE,
)
# An out-of-office marker opens the subject ("自動応答: …", "【自動返信】…", "Out of Office: …")
# and is followed by a separator, a bracket or the end: a customer asking about auto-reply
# settings ("自動返信の設定方法について") writes an inquiry, never an automatic mail.
_MARKER = (
    r"(?:out of (?:the )?office|automatic reply|auto(?:matic)?[- ]?reply|autoreply|vacation|"
    r"自動応答|自動返信|自動送信|不在通知|不在のお知らせ|休暇のお知らせ|外出中)"
)
_OUT_OF_OFFICE = re.compile(
    rf"^\s*(?:[\[【(（<〔]\s*{_MARKER}\s*[\]】)）>〕]|{_MARKER}\s*(?:[:：\-－|｜(（\[【]|$|\s))",
    re.IGNORECASE,
)


def auto_reply_reason(message: Message, sender: str | None, subject: str) -> str | None:
    """Why this message is automatic, or None (R27: RFC 3834 and the usual markers)."""
    auto_submitted = header(message, "Auto-Submitted").split(";", 1)[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"auto-submitted: {auto_submitted}"
    precedence = header(message, "Precedence").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"precedence: {precedence}"
    if header(message, "List-Id") or header(message, "List-Unsubscribe"):
        return "mailing list"
    if header(message, "X-Auto-Response-Suppress"):
        return "x-auto-response-suppress"
    if message.get_content_type() == "multipart/report":
        return "report (e.g. read receipt)"
    if header(message, LOOP_HEADER):
        return "our own mail"
    if header(message, "X-Autoreply") or header(message, "X-Autorespond"):
        return "x-autoreply"
    if sender and _ROBOT_LOCALPART.match(sender.split("@", 1)[0]):
        return "robot sender"
    if _OUT_OF_OFFICE.match(subject[:200]):
        return "out of office"
    return None
