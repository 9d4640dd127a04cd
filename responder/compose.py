"""Composing outgoing mail: threading headers, charsets and loop-safe headers (R10, R27, R28).

Every mail to a customer is an email (R10), from the profile's support address, threaded to the
customer's mail, marked ``Auto-Submitted`` when automatic and carrying our loop header so that it
is recognised if it ever comes back (R27).
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.utils import format_datetime, formataddr

from intake.filelimits import AttachedFile
from intake.mail.loops import LOOP_HEADER
from intake.text import strip_controls
from responder.mixed import with_attachments


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
    reply_to: str | None = None  # a staff notification's tokened reply address (R20)
    kind: str = ""  # its outbox kind, as X-Uketsuke-Kind: mail clients filter on it
    attachments: list[AttachedFile] = field(default_factory=list)  # multipart/mixed when any


_CRLF = "\r\n"
KIND_HEADER = "X-Uketsuke-Kind"  # ack, answer, staff_notify, license_key, ... (docs/staff.md)
_MAX_LINE = 78  # RFC 5322 2.1.1 SHOULD; folding never goes past it unless a single word does
_MAX_WORD = 75  # RFC 2047 2: an encoded-word is at most 75 characters
_MAX_BODY_LINE = 998  # RFC 5322 2.1.1 MUST, octets without the CRLF
_JIS_ESCAPE = 3  # every ISO-2022-JP mode switch (ESC $ B, ESC ( J, ESC ( B) is three bytes
_JIS_ASCII = b"\x1b(B"
_JIS_ESCAPES = re.compile(rb"(\x1b[$(][@-Z])")  # the iso2022_jp codec's ESC $ B, ESC ( J, ESC ( B


def compose(mail: OutgoingMail) -> bytes:
    """The mail's bytes (CRLF, 7-bit safe). ISO-2022-JP when asked, every character of body and
    subject fits and no body line passes 998 bytes; UTF-8 (base64 body) otherwise.

    Written line by line rather than through ``email.generator``: the stdlib's header folding
    (``Header.encode``) cost most of a millisecond a mail on the intake hot path. Every header
    value is ASCII folded at spaces, or RFC 2047 "B" encoded-words (R28) of at most 75 characters
    on lines of at most 78, each holding whole characters (for ISO-2022-JP a complete string that
    returns to ASCII). No control character but tab and line breaks reaches a mail.
    """
    mail = replace(
        mail,
        subject=strip_controls(mail.subject),
        sender_name=strip_controls(mail.sender_name),
        body=strip_controls(mail.body),
    )
    body = _iso2022jp_body(mail) if mail.charset == "iso-2022-jp" else None
    if body is not None:
        charset = "iso-2022-jp"
        head = [
            'Content-Type: text/plain; charset="iso-2022-jp"',
            "MIME-Version: 1.0",
            "Content-Transfer-Encoding: 7bit",
        ]
    else:
        charset = "utf-8"
        body = base64.encodebytes(mail.body.encode("utf-8")).replace(b"\n", b"\r\n")
        head = [
            'Content-Type: text/plain; charset="utf-8"',
            "MIME-Version: 1.0",
            "Content-Transfer-Encoding: base64",
        ]
    head.append(_from("From", mail.sender_name, mail.sender, charset))
    head.append(_field("To", ", ".join(mail.to)))
    if mail.reply_to:
        head.append(_field("Reply-To", mail.reply_to))
    head.append(_field("Subject", mail.subject, charset))
    head.append("Date: " + format_datetime(mail.date))
    head.append(_field("Message-ID", mail.message_id))
    if mail.in_reply_to:
        head.append(_field("In-Reply-To", mail.in_reply_to))
    references = list(dict.fromkeys([*mail.references, *filter(None, [mail.in_reply_to])]))
    if references:
        head.append(_field("References", " ".join(references)))
    if mail.automatic:
        head.append(_field("Auto-Submitted", mail.automatic))
        head.append("X-Auto-Response-Suppress: All")
    head.append(_field(LOOP_HEADER, mail.profile or "uketsuke"))
    if mail.kind:
        head.append(_field(KIND_HEADER, mail.kind))
    if mail.attachments:
        return with_attachments(head, body, mail.attachments)
    head.append(_CRLF)
    return _CRLF.join(head).encode("ascii") + body


def _field(name: str, value: str, charset: str = "utf-8") -> str:
    """``name: value`` folded; non-ASCII (or text that would read as an encoded-word) encoded."""
    value = _single_line(value)
    if value.isascii() and "=?" not in value:
        line = f"{name}: {value}"
        if len(line) <= _MAX_LINE:
            return line
        return _fold(f"{name}:", value.split(" "))
    return _fold(f"{name}:", _encoded_words(value, charset, len(name) + 2))


def _from(name: str, display_name: str, address: str, charset: str) -> str:
    """The address with its display name: quoted when ASCII, encoded-words (R28) otherwise."""
    display_name = _single_line(display_name)
    if not display_name or (display_name.isascii() and "=?" not in display_name):
        value = formataddr((display_name, address))
        line = f"{name}: {value}"
        return line if len(line) <= _MAX_LINE else _fold(f"{name}:", value.split(" "))
    words = _encoded_words(display_name, charset, len(name) + 2)
    return _fold(f"{name}:", [*words, f"<{address}>"])


def _single_line(value: str) -> str:
    """Line breaks in a header value would end the header: unfold them to spaces."""
    if "\n" in value or "\r" in value:
        return value.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    return value


def _fold(start: str, words: list[str]) -> str:
    """Join ``words`` with single spaces after ``start``, folding before a word when the line
    would pass 78 characters (never before an empty word: no whitespace-only lines)."""
    lines: list[str] = []
    line = start
    first = True
    for word in words:
        if not first and word and len(line) + 1 + len(word) > _MAX_LINE:
            lines.append(line)
            line = " " + word
        else:
            line = f"{line} {word}"
        first = False
    lines.append(line)
    return _CRLF.join(lines)


def _encoded_words(text: str, charset: str, used: int) -> list[str]:
    """``text`` as "B" encoded-words in ``charset`` (UTF-8 if it does not fit): the first to fit
    after ``used`` characters of its line, the others after a folding space. Each word holds whole
    characters; in ISO-2022-JP each is a complete string that ends in ASCII."""
    if charset == "iso-2022-jp" and _fits_iso2022jp(text):
        chunks = _jis_chunks(text, *_byte_limits(len(charset), used))
    else:
        charset = "utf-8"
        chunks = _utf8_chunks(text.encode("utf-8"), *_byte_limits(len(charset), used))
    prefix = f"=?{charset}?b?"
    return [prefix + base64.b64encode(chunk).decode("ascii") + "?=" for chunk in chunks]


def _byte_limits(charset_length: int, used: int) -> tuple[int, int]:
    """Most bytes an encoded-word can carry: first word on the header's line, then the others."""
    overhead = charset_length + 7  # "=?" charset "?b?" ... "?="

    def limit(room: int) -> int:
        return (min(room, _MAX_WORD) - overhead) // 4 * 3

    # On a crowded first line (a long header name) the first word still gets a few bytes.
    return max(limit(_MAX_LINE - used), 12), limit(_MAX_LINE - 1)


def _utf8_chunks(data: bytes, first: int, limit: int) -> list[bytes]:
    """``data`` cut into pieces of at most ``first``, then ``limit``, bytes, between characters."""
    chunks = []
    start = 0
    size = first
    while len(data) - start > size:
        end = start + size
        while data[end] & 0xC0 == 0x80:  # a continuation byte: cut before its character
            end -= 1
        chunks.append(data[start:end])
        start = end
        size = limit
    chunks.append(data[start:])
    return chunks


def _jis_chunks(text: str, first: int, limit: int) -> list[bytes]:
    """``text`` in ISO-2022-JP, cut between characters into complete strings of at most
    ``first``, then ``limit``, bytes: each starts in ASCII, switches mode as the text does and
    returns to ASCII (ESC ( B) at its end."""
    data = text.encode("iso2022_jp")
    if len(data) <= first:
        return [data]
    chunks: list[bytes] = []
    parts: list[bytes] = []  # of the chunk being filled
    size = 0  # its bytes so far, without the final return to ASCII
    mode = _JIS_ASCII  # its mode at the end
    room = first
    runs = _JIS_ESCAPES.split(data)  # text in ASCII, then (escape sequence, text in its mode)...
    for i in range(0, len(runs), 2):
        run_mode = runs[i - 1] if i else _JIS_ASCII
        run = runs[i]
        width = 2 if run_mode[1:2] == b"$" else 1  # ESC $ ...: two bytes a character
        while run:
            switch = _JIS_ESCAPE if run_mode != mode else 0
            back = _JIS_ESCAPE if run_mode != _JIS_ASCII else 0
            take = min(len(run), (room - size - switch - back) // width * width)
            if take <= 0:  # full (never when empty: a chunk holds at least one character)
                chunks.append(b"".join(parts) + (_JIS_ASCII if mode != _JIS_ASCII else b""))
                parts, size, mode, room = [], 0, _JIS_ASCII, limit
                continue
            if switch:
                parts.append(run_mode)
            parts.append(run[:take])
            size += switch + take
            mode = run_mode
            run = run[take:]
    chunks.append(b"".join(parts) + (_JIS_ASCII if mode != _JIS_ASCII else b""))
    return chunks


def _iso2022jp_body(mail: OutgoingMail) -> bytes | None:
    """The body in ISO-2022-JP with CRLF line ends (7bit); None when the body or the subject has
    a character outside it, or a line would be longer than 998 bytes (relays cut such lines, which
    would garble the JIS text): that mail goes in UTF-8."""
    if not _fits_iso2022jp(mail.subject):
        return None
    text = mail.body
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        body = text.encode("iso2022_jp")
    except UnicodeEncodeError:
        return None
    if len(body) > _MAX_BODY_LINE and max(map(len, body.split(b"\n"))) > _MAX_BODY_LINE:
        return None
    return body.replace(b"\n", b"\r\n")


def _fits_iso2022jp(text: str) -> bool:
    try:
        text.encode("iso2022_jp")
    except UnicodeEncodeError:
        return False
    return True
