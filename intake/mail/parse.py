"""Read a message: what it is and what it asks (R1, R3, R5, R6, R19, R27, R28).

Pure: bytes in, a :class:`ParsedMessage` out; no database, no network. Built for speed on the
intake hot path (``bench/parse.py``): the stdlib parser runs with ``compat32`` (no header objects),
only the headers intake needs are decoded, only the text parts intake reads are decoded, and
attachments are measured, never decoded.

Nothing of a message disappears (R29): every inline text part is in ``body``, everything else is
listed in ``attachments``. Every text field is valid text without control characters other than
tab, CR and LF (PostgreSQL refuses NUL in text columns).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from email import errors
from email.utils import parsedate_to_datetime
from typing import Any

from intake.incidenttag import ticket_ref
from intake.mail.access import header, headers
from intake.mail.bounce import bounce_of, is_bounce
from intake.mail.charsets import decode_text
from intake.mail.classify import categorize, has_japanese, is_urgent
from intake.mail.context import ParseContext
from intake.mail.fields import Fields, extract_fields
from intake.mail.headers import address, clean_text, decode_header_value, recipients
from intake.mail.htmltext import html_to_text
from intake.mail.layout import BodyLayout, analyse_layout
from intake.mail.loops import auto_reply_reason
from intake.mail.mime import (
    Buffer,
    Part,
    build_tree,
    filename_of,
    is_cr_only,
    names_a_file,
    parse_tree,
    payload,
    payload_size,
)
from intake.mail.split import split_inquiries
from intake.summary import matter_line
from intake.text import strip_controls

MAX_BODY_CHARS = 200_000  # longer bodies are kept whole but analysed only this far (bounded time)
_MSGID = re.compile(r"<[^<>\s]+>")


class NotAMessage(ValueError):
    """The bytes are not a mail at all (no header fields)."""


@dataclass
class Inquiry:
    text: str
    category: str
    urgent: bool
    # intake.summary.matter_line of the text as accept stores it (control characters removed),
    # computed here, in the parse worker, off the processor's path; not in `uketsuke parse`.
    matter: str | None = None


@dataclass
class AttachmentInfo:
    filename: str | None
    content_type: str
    size: int


@dataclass
class ParsedMessage:
    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    date: str | None
    sender: dict[str, str | None]
    to: list[str]
    subject: str
    kind: str
    ticket_ref: int | None
    bounce_of: str | None
    fields: dict[str, str | None]
    missing: list[str]
    inquiries: list[Inquiry]
    language: str
    attachments: list[AttachmentInfo]
    body: str
    quoted_from_line: int | None
    signature_from_line: int | None
    auto_reason: str | None = None
    defects: list[str] = field(default_factory=list)

    @property
    def from_address(self) -> str | None:
        return self.sender.get("address")

    def to_json(self) -> dict[str, Any]:
        """The documented JSON of ``uketsuke parse`` (keys in README)."""
        data = asdict(self)
        data["from"] = data.pop("sender")
        for inquiry in data["inquiries"]:
            del inquiry["matter"]  # the processor's, not part of the documented JSON
        return data


def _msgid(value: str | None) -> str | None:
    if not value:
        return None
    match = _MSGID.search(clean_text(str(value)))
    return match.group(0) if match else None


def _date(value: str | None, defects: list[str]) -> str | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("InvalidDateDefect")
        return None
    return parsed.isoformat()


# Text that is data, not something written to be read: listed as attachments, never in the body.
_DATA_TEXT = frozenset(
    {
        "text/rfc822-headers",
        "text/rfc822-header",
        "text/calendar",
        "text/vcard",
        "text/x-vcard",
        "text/directory",
    }
)


def _is_attachment(part: Part) -> bool:
    headers = part.headers
    disposition = header(headers, "Content-Disposition").split(";", 1)[0].strip().lower()
    if disposition == "attachment":
        return True
    maintype = part.maintype
    if maintype == "multipart":
        return part.capped  # a multipart left unsplit is measured, never read as text
    if maintype != "text" or part.content_type in _DATA_TEXT:
        return True
    return part.content_type not in ("text/plain", "text/html") and names_a_file(headers)


def _shown(part: Part, root: Part) -> bool:
    """Is this leaf read as text? Parts inside an attached message are not the sender's text.
    A multipart without a boundary or a delimiter is one (what the stdlib makes of it)."""
    if part is not root and part.maintype == "message":
        return False
    return not _is_attachment(part)


_WRITTEN = re.compile(rb"\S")


def _alternative(part: Part, root: Part) -> Part | None:
    """The alternative intake reads: the first holding plain text, else the first holding
    HTML (read as text); one whose text parts are all blank only when no other has text (an
    empty text/plain beside the HTML). None when none holds text: all are then listed."""
    ranked: list[tuple[bool, bool, int]] = []
    for index, child in enumerate(part.children):
        leaves = [p for p in child.walk() if not p.children and _shown(p, root)]
        if leaves:
            blank = not any(_WRITTEN.search(p.buffer, p.start, p.end) for p in leaves)
            html = all(p.content_type == "text/html" for p in leaves)
            ranked.append((blank, html, index))
    return part.children[min(ranked)[2]] if ranked else None


def _collect(part: Part, root: Part, shown: list[Part], attachments: list[Part]) -> None:
    """Sort the leaves under ``part``, in document order: text read into the body, the rest
    listed. In a multipart/alternative one alternative is read; the text of the others is the
    same message in another form, but what else they hold (an image) is listed. The depth of
    the tree is bounded (MAX_DEPTH), so is this recursion."""
    if not part.children:
        (shown if _shown(part, root) else attachments).append(part)
        return
    chosen = _alternative(part, root) if part.content_type == "multipart/alternative" else None
    for child in part.children:
        if chosen is None or child is chosen:
            _collect(child, root, shown, attachments)
        else:
            attachments.extend(p for p in child.walk() if not p.children and not _shown(p, root))


def _decode_part(part: Part, defects: list[str]) -> str:
    data = payload(part, defects)
    try:
        charset = part.headers.get_content_charset()
    except (ValueError, TypeError, LookupError):
        charset = None
    text, charset_defects = decode_text(data, charset)
    defects.extend(charset_defects)
    if part.content_type == "text/html":
        text = html_to_text(text)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _body(root: Part, defects: list[str]) -> tuple[str, list[Part]]:
    """Every inline text part, each decoded with its own charset (R28), in order and joined by
    a blank line; and the parts listed as attachments. Nothing of the message is dropped."""
    shown: list[Part] = []
    attachments: list[Part] = []
    _collect(root, root, shown, attachments)
    texts = [_decode_part(part, defects) for part in shown]
    if len(texts) > 1:
        texts = [text.rstrip("\n") + "\n" for text in texts if text.strip()]
    return clean_text("\n".join(texts)), attachments


def safe_filename(part: Part) -> str | None:
    """A part's file name as valid text without control characters, or None; never raises
    (R28, R29). What ``part.headers.get_filename()`` of the stdlib cannot promise."""
    return filename_of(part.headers)


def _kind(
    root: Part,
    sender: str | None,
    subject: str,
    ref: int | None,
    in_reply_to: str | None,
    references: list[str],
    context: ParseContext,
) -> tuple[str, str | None]:
    if is_bounce(root, sender, subject):
        return "bounce", "bounce"
    reason = auto_reply_reason(root.headers, sender, subject)
    if reason:
        return "auto_reply", reason
    if sender and sender in context.fax_senders:
        return "fax", None
    if sender and sender in context.staff_addresses:
        return "staff_reply", None
    if ref is not None or in_reply_to or references:
        return "reply", None
    return "inquiry", None


_OBS_HEADER_NAME = re.compile(rb"^([!-9;-~]+)[ \t]+:", re.MULTILINE)
_HEADER_BLOCK_END = re.compile(rb"\r?\n\r?\n")


def _parse_bytes(data: Buffer) -> Part:
    """The MIME tree, tolerant of what real mail holds: a UTF-8 BOM, obsolete ``Name  :``
    header syntax (RFC 5322 4.5.1). The body is never copied (R29): a BOM moves the start."""
    start = 3 if data[:3] == b"\xef\xbb\xbf" else 0
    root = parse_tree(data, start)
    if root.headers.keys():
        return root
    end = _HEADER_BLOCK_END.search(data, start)
    cut = end.start() if end else len(data)
    head = _OBS_HEADER_NAME.sub(rb"\1:", data[start:cut])
    probe = head[:8192] + data[cut : cut + max(0, 8192 - len(head))]
    if end is None or is_cr_only(probe):
        root = parse_tree(head + data[cut:])  # all headers, or old Mac line ends: a copy
    elif head.startswith((b"\n", b"\r\n")):
        root = build_tree(data, b"", len(data))  # a blank first line: no header fields
    else:
        # The fixed header block, then the body where it lies: the same tree as parsing
        # head + data[cut:] (the fix only drops blanks before colons, inside the head).
        root = build_tree(data, head, end.end())
    if not root.headers.keys():
        raise NotAMessage("not a mail message (no header fields)")
    root.defects.append(errors.ObsoleteHeaderDefect.__name__)
    return root


def _inquiries(kind: str, layout: BodyLayout, body: str, subject: str) -> list[Inquiry]:
    if kind not in ("inquiry", "reply", "fax", "staff_reply"):
        return []
    # A forward without comment or a bottom-posted reply has no new text: read the whole body.
    texts = split_inquiries(layout.new_text) or [body[:MAX_BODY_CHARS].strip()]
    inquiries = []
    for text in texts:
        category = categorize(text)
        if category == "other" and len(texts) == 1:
            category = categorize(subject + "\n" + text)
        matter = matter_line(strip_controls(text))
        inquiries.append(Inquiry(text, category, is_urgent(subject, text), matter))
    return inquiries


def _fields(fields: Fields) -> dict[str, str | None]:
    return {
        "company": fields.company,
        "name": fields.name,
        "domain": fields.domain,
        "customer_number": fields.customer_number,
    }


def _attachment(part: Part) -> AttachmentInfo:
    content_type = clean_text(part.content_type)
    return AttachmentInfo(filename_of(part.headers), content_type, payload_size(part))


def parse_message(data: Buffer, context: ParseContext | None = None) -> ParsedMessage:
    """Everything intake reads from a message, given as ``bytes`` or as a read-only ``mmap`` of
    the file holding it (never copied whole). Raises only NotAMessage (R29: never crash)."""
    context = context or ParseContext()
    root = _parse_bytes(data)
    message = root.headers
    defects = list(root.defects)
    subject = clean_text(decode_header_value(header(message, "Subject"))).strip()
    sender = address(header(message, "From"))
    in_reply_to = _msgid(header(message, "In-Reply-To"))
    references = _MSGID.findall(clean_text(header(message, "References")))
    ref = ticket_ref(subject, context.tag_prefix)
    kind, reason = _kind(root, sender["address"], subject, ref, in_reply_to, references, context)
    body, attachment_parts = _body(root, defects)
    layout = analyse_layout(body[:MAX_BODY_CHARS])
    fields = extract_fields(layout)
    bounced = _msgid(bounce_of(root, body)) if kind == "bounce" else None
    return ParsedMessage(
        message_id=_msgid(header(message, "Message-ID")),
        in_reply_to=in_reply_to,
        references=references,
        date=_date(header(message, "Date"), defects),
        sender=sender,
        to=recipients(headers(message, "To"), defects),
        subject=subject,
        kind=kind,
        ticket_ref=ref,
        bounce_of=bounced,
        fields=_fields(fields),
        missing=fields.missing(),
        inquiries=_inquiries(kind, layout, body, subject),
        language="ja" if has_japanese(subject) or has_japanese(body[:MAX_BODY_CHARS]) else "other",
        attachments=[_attachment(part) for part in attachment_parts],
        body=body,
        quoted_from_line=layout.quoted_from_line,
        signature_from_line=layout.signature_from_line,
        auto_reason=None if reason is None else clean_text(reason),
        defects=list(dict.fromkeys(defects)),  # class names; charset labels given by repr()
    )
