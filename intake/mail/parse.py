"""Read a message: what it is and what it asks (R1, R3, R5, R6, R19, R27, R28).

Pure: bytes in, a :class:`ParsedMessage` out; no database, no network. Built for speed on the
intake hot path (``bench/parse.py``): the stdlib parser runs with ``compat32`` (no header objects),
only the headers intake needs are decoded, only the text part intake reads is decoded, and
attachments are measured, never decoded.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import asdict, dataclass, field
from email import errors
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any

from intake.mail.access import header, headers
from intake.mail.bounce import bounce_of, is_bounce
from intake.mail.charsets import decode_header_value, decode_param, decode_text
from intake.mail.classify import categorize, has_japanese, is_urgent
from intake.mail.fields import extract_fields
from intake.mail.htmltext import html_to_text
from intake.mail.layout import analyse_layout
from intake.mail.loops import auto_reply_reason
from intake.mail.mime import Buffer, Part, build_tree, is_cr_only, parse_tree
from intake.mail.split import split_inquiries

MAX_BODY_CHARS = 200_000  # longer bodies are kept whole but analysed only this far (bounded time)
_MSGID = re.compile(r"<[^<>\s]+>")


class NotAMessage(ValueError):
    """The bytes are not a mail at all (no header fields)."""


@dataclass(frozen=True)
class ParseContext:
    """What the parser needs to know of the configuration: who is staff, who is a fax gateway."""

    tag_prefix: str = "#"
    staff_addresses: frozenset[str] = frozenset()
    fax_senders: frozenset[str] = frozenset()


@dataclass
class Inquiry:
    text: str
    category: str
    urgent: bool


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
        return data


def tag_pattern(prefix: str) -> re.Pattern[str]:
    """The incident tag in a subject: ``[#123]`` or ``[<prefix>123]`` (R19)."""
    return re.compile(r"[\[［]\s*" + re.escape(prefix.strip()) + r"\s*([0-9０-９]{1,12})\s*[\]］]")


def ticket_ref(subject: str, prefix: str) -> int | None:
    match = tag_pattern(prefix).search(subject)
    if not match:
        match = tag_pattern(prefix.replace("#", "＃")).search(subject) if "#" in prefix else None
    if not match:
        return None
    return int(match.group(1).translate(_FULLWIDTH_DIGITS))


_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def _msgid(value: str | None) -> str | None:
    if not value:
        return None
    match = _MSGID.search(str(value))
    return match.group(0) if match else None


_LOOSE_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


# The common shapes, read without the stdlib's character-by-character address parser:
# "addr@example.jp", "<addr@example.jp>", "Name <addr@example.jp>", "=?UTF-8?B?...?= <addr>".
_SIMPLE_ADDRESS = re.compile(
    r'\s*(?:"?([^"<>,;:\\()]*?)"?\s*)?<([^<>\s",;:()\\@]+@[A-Za-z0-9.-]+)>\s*'
    r'|\s*([^<>\s",;:()\\@]+@[A-Za-z0-9.-]+)\s*'
)


def _recipients(message: Message, defects: list[str]) -> list[str]:
    values = headers(message, "To")
    simple = [_SIMPLE_ADDRESS.fullmatch(item) for v in values for item in v.split(",")]
    if simple and all(simple):
        return [(m.group(2) or m.group(3)).lower() for m in simple if m]
    try:
        return [a.lower() for _, a in getaddresses(values) if a]
    except (RecursionError, ValueError, IndexError):  # pathological address lists
        defects.append("InvalidAddressListDefect")
        return [a.lower() for v in values for a in _LOOSE_ADDRESS.findall(v)][:100]


def _address(value: str | None) -> dict[str, str | None]:
    if not value:
        return {"name": None, "address": None}
    simple = _SIMPLE_ADDRESS.fullmatch(value)
    try:
        if simple:
            name, address = simple.group(1) or "", simple.group(2) or simple.group(3)
        else:
            name, address = parseaddr(str(value))
    except (RecursionError, ValueError, IndexError):
        found = _LOOSE_ADDRESS.search(value)
        name, address = "", found.group(0) if found else ""
    decoded = decode_header_value(name).strip() if name else ""
    return {"name": decoded or None, "address": address.strip().lower() or None}


def _date(value: str | None, defects: list[str]) -> str | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("InvalidDateDefect")
        return None
    return parsed.isoformat()


def _is_attachment(part: Part) -> bool:
    headers = part.headers
    disposition = header(headers, "Content-Disposition").split(";", 1)[0].strip().lower()
    if disposition == "attachment":
        return True
    if headers.get_content_maintype() not in ("text", "multipart"):
        return True
    return headers.get_filename() is not None and part.content_type not in (
        "text/plain",
        "text/html",
    )


def _encoding(part: Part) -> str:
    return header(part.headers, "Content-Transfer-Encoding").strip().lower()


_SIZE_SLICE = 1 << 16  # base64 is measured a slice at a time: no copy of an attachment (R29)


def _payload_size(part: Part) -> int:
    """Decoded size without decoding: base64 is 3/4 of its characters (name, type, size)."""
    if _encoding(part) != "base64":
        return part.size
    buffer, end = part.buffer, part.end
    characters = 0
    for start in range(part.start, end, _SIZE_SLICE):
        piece = buffer[start : min(start + _SIZE_SLICE, end)]
        characters += len(piece.translate(None, b"\r\n\t ="))
    return characters * 3 // 4


def _filename(part: Part) -> str | None:
    try:
        raw = part.headers.get_param("filename", None, "content-disposition")
        if raw is None:
            raw = part.headers.get_param("name", None, "content-type")
    except (IndexError, ValueError, TypeError):
        return None
    return decode_param(raw)  # type: ignore[arg-type]


_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


def _lenient_base64(data: bytes) -> bytes:
    """Base64 with broken padding or a cut-off end, decoded as far as it goes (R29)."""
    try:
        return binascii.a2b_base64(data, strict_mode=False)
    except binascii.Error:
        compact = _NOT_BASE64.sub(b"", data)
        if len(compact) % 4 == 1:
            compact = compact[:-1]
        return binascii.a2b_base64(compact + b"=" * (-len(compact) % 4))


def _decode_part(part: Part, defects: list[str]) -> str:
    encoding = _encoding(part)
    data = part.body
    try:
        if encoding == "base64":
            data = _lenient_base64(data)
        elif encoding == "quoted-printable":
            data = binascii.a2b_qp(data)
    except (ValueError, binascii.Error):
        defects.append("UndecodablePayloadDefect")
    try:
        charset = part.headers.get_content_charset()
    except (ValueError, TypeError, LookupError):
        charset = None
    text, charset_defects = decode_text(data, charset)
    defects.extend(charset_defects)
    return text


def _walk(root: Part) -> tuple[Part | None, Part | None, list[Part]]:
    """The first inline text/plain, the first inline text/html, and the attachments.

    Parts inside an attached message (message/rfc822) are not the sender's own text.
    """
    plain: Part | None = None
    html: Part | None = None
    attachments: list[Part] = []
    for part in root.walk():
        if part.is_multipart:
            continue
        if part is not root and part.headers.get_content_maintype() == "message":
            attachments.append(part)
            continue
        if _is_attachment(part):
            attachments.append(part)
            continue
        content_type = part.content_type
        if content_type == "text/html":
            html = html or part
        elif content_type.startswith("text/") and plain is None:
            plain = part
    return plain, html, attachments


def _body(root: Part, defects: list[str]) -> tuple[str, list[Part]]:
    plain, html, attachments = _walk(root)
    if plain is not None:
        text = _decode_part(plain, defects)
    elif html is not None:
        text = html_to_text(_decode_part(html, defects))
    else:
        text = ""
    return text.replace("\r\n", "\n").replace("\r", "\n"), attachments


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


def parse_message(data: Buffer, context: ParseContext | None = None) -> ParsedMessage:
    """Everything intake reads from a message, given as ``bytes`` or as a read-only ``mmap`` of
    the file holding it (never copied whole). Raises only NotAMessage (R29: never crash)."""
    context = context or ParseContext()
    root = _parse_bytes(data)
    message = root.headers
    defects = list(root.defects)
    subject = decode_header_value(header(message, "Subject")).strip()
    sender = _address(header(message, "From"))
    recipients = _recipients(message, defects)
    in_reply_to = _msgid(header(message, "In-Reply-To"))
    references = _MSGID.findall(header(message, "References"))
    ref = ticket_ref(subject, context.tag_prefix)
    kind, reason = _kind(root, sender["address"], subject, ref, in_reply_to, references, context)
    body, attachment_parts = _body(root, defects)
    layout = analyse_layout(body[:MAX_BODY_CHARS])
    fields = extract_fields(layout)
    inquiries = []
    if kind in ("inquiry", "reply", "fax", "staff_reply"):
        # A forward without comment or a bottom-posted reply has no new text: read the whole body.
        texts = split_inquiries(layout.new_text) or [body[:MAX_BODY_CHARS].strip()]
        for text in texts:
            category = categorize(text)
            if category == "other" and len(texts) == 1:
                category = categorize(subject + "\n" + text)
            inquiries.append(Inquiry(text, category, is_urgent(subject, text)))
    return ParsedMessage(
        message_id=_msgid(header(message, "Message-ID")),
        in_reply_to=in_reply_to,
        references=references,
        date=_date(header(message, "Date"), defects),
        sender=sender,
        to=recipients,
        subject=subject,
        kind=kind,
        ticket_ref=ref,
        bounce_of=bounce_of(root, body) if kind == "bounce" else None,
        fields={
            "company": fields.company,
            "name": fields.name,
            "domain": fields.domain,
            "customer_number": fields.customer_number,
        },
        missing=fields.missing(),
        inquiries=inquiries,
        language="ja" if has_japanese(subject) or has_japanese(body[:MAX_BODY_CHARS]) else "other",
        attachments=[
            AttachmentInfo(_filename(p), p.content_type, _payload_size(p)) for p in attachment_parts
        ],
        body=body,
        quoted_from_line=layout.quoted_from_line,
        signature_from_line=layout.signature_from_line,
        auto_reason=reason,
        defects=list(dict.fromkeys(defects)),
    )
