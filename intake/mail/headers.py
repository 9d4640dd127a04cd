"""Header and MIME parameter decoding (R28): RFC 2047 encoded-words, raw 8-bit, RFC 2231, and
the addresses of From and To.

Values arrive as ``email.message_from_bytes(policy=compat32)`` gives them: ``str`` with raw 8-bit
bytes as surrogate escapes, or an ``email.header.Header`` when the raw value held 8-bit bytes.
Everything is turned back into bytes and decoded by :func:`intake.mail.charsets.decode_text`, so
an ``=?ISO-2022-JP?B?...?=`` word holding ① decodes like a body would. Nothing here raises.
"""

import binascii
import re
from email.header import Header, decode_header
from email.utils import getaddresses, parseaddr

from intake.mail.charsets import decode_text, normalize_charset
from intake.text import strip_controls

__all__ = [
    "address",
    "clean_text",
    "decode_header_value",
    "decode_param",
    "mail_subject",
    "recipients",
]

# charset ? B|Q ? text ?=  -- a missing "?=" ends the word at whitespace or the end of the value.
_ENCODED_WORD = re.compile(rb"=\?([^?\s]*)\?([bBqQ])\?(?:([^?]*?)\?=|([^?\s]*)\??(?=\s|$))")
_FOLD_BYTES = re.compile(rb"[\r\n]+[ \t]*")
_FOLD_STR = re.compile(r"[\r\n]+[ \t]*")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]+")
_URLSAFE = bytes.maketrans(b"-_", b"+/")
_SURROGATE = re.compile("[\ud800-\udfff]")
# What clean_text changes: the controls strip_controls removes, and surrogates (one scan).
_NOT_CLEAN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_LONE_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


def _b_decode(text: bytes) -> bytes:
    """Base64 that tolerates missing or misplaced padding and stray characters."""
    out = []
    for chunk in text.translate(_URLSAFE).split(b"="):
        clean = _NOT_BASE64.sub(b"", chunk)
        if len(clean) % 4 == 1:  # a lone trailing sextet carries no whole byte
            clean = clean[:-1]
        if clean:
            out.append(binascii.a2b_base64(clean + b"=" * (-len(clean) % 4)))
    return b"".join(out)


def _ascii_or_sniffed(raw: bytes) -> str:
    if raw.isascii() and b"\x1b" not in raw:
        return raw.decode("ascii")
    return decode_text(raw, None)[0]


def _decode_raw(raw: bytes) -> str:
    """Decode header bytes: unfold, decode encoded-words (same-charset neighbours joined at the
    byte level, whitespace between them dropped), sniff raw 8-bit text (R28)."""
    raw = _FOLD_BYTES.sub(b" ", raw)
    pieces: list[str] = []
    pending: list[bytes] = []  # payload bytes of adjacent encoded-words sharing one charset
    pending_key: str | None = None
    pending_label = ""
    position = 0

    def flush() -> None:
        if pending:
            pieces.append(decode_text(b"".join(pending), pending_label or None)[0])
            pending.clear()

    for match in _ENCODED_WORD.finditer(raw):
        gap = raw[position : match.start()]
        position = match.end()
        if gap and not (pending and gap.isspace()):
            flush()
            pieces.append(_ascii_or_sniffed(gap))
        label = match.group(1).decode("latin-1")
        key = normalize_charset(label) or label.lower()
        if key != pending_key:
            flush()
        pending_key, pending_label = key, label
        text = match.group(3) if match.group(3) is not None else match.group(4)
        if match.group(2) in b"bB":
            pending.append(_b_decode(text))
        else:
            pending.append(binascii.a2b_qp(text, header=True))
    flush()
    if position < len(raw):
        pieces.append(_ascii_or_sniffed(raw[position:]))
    return "".join(pieces).strip()


def _str_to_bytes(value: str) -> bytes:
    """Undo compat32's surrogate escapes; real non-ASCII characters become UTF-8."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", value).encode("utf-8", "surrogateescape")


def decode_header_value(value: str | bytes | Header) -> str:
    """Decode an unstructured header (Subject, display names) to text (R28); never raises.

    Handles RFC 2047 B/Q words in any charset (ISO-2022-JP with MS extensions included), words
    split inside a multibyte character, malformed words, raw 8-bit Shift_JIS/UTF-8/EUC-JP and
    folding. A compat32 ``Header`` (what ``msg['Subject']`` is for raw 8-bit) is accepted too.
    """
    if isinstance(value, Header):
        try:
            chunks = decode_header(value)
        except (UnicodeError, LookupError):
            return decode_header_value(str(value))
        return "".join(
            _decode_raw(raw)
            if charset in (None, "unknown-8bit", "us-ascii")
            else decode_text(raw, charset)[0]
            for raw, charset in chunks
        )
    if isinstance(value, str):
        if "=?" not in value and "\x1b" not in value and not _SURROGATE.search(value):
            return _FOLD_STR.sub(" ", value).strip()
        value = _str_to_bytes(value)
    return _decode_raw(bytes(value))


def _unquote(value: str) -> str:
    if len(value) > 1 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def _octets(value: str) -> bytes:
    """Bytes of an RFC 2231 value as the stdlib keeps them: one char per octet (latin-1), raw 8-bit
    as surrogate escapes; anything else is taken as already-decoded text (UTF-8)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        pass
    out = bytearray()
    for char in value:
        code = ord(char)
        if code < 0x100:
            out.append(code)
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(code - 0xDC00)
        else:
            out += _str_to_bytes(char)
    return bytes(out)


def decode_param(value: str | tuple[str, str | None, str] | None) -> str | None:
    """Decode a MIME parameter such as filename/name (R28); None only for None.

    Takes what ``Message.get_param`` returns under compat32: a ``(charset, language, value)`` tuple
    for RFC 2231 (continuations already joined, octets as latin-1 characters) or a string, which
    real mailers fill with an RFC 2047 encoded-word or raw 8-bit bytes.
    """
    if value is None:
        return None
    if isinstance(value, tuple):
        charset = value[0] if value and isinstance(value[0], str) else None
        text = value[-1] if value and isinstance(value[-1], str) else ""
        return decode_text(_octets(_unquote(text)), charset or None)[0]
    return decode_header_value(_unquote(value))


def clean_text(value: str) -> str:
    """``value`` fit to store, print and send (R29): raw 8-bit bytes kept as surrogate escapes are
    read as UTF-8 (RFC 6532 allows it in addresses), any other lone surrogate and what is not
    UTF-8 become U+FFFD, and control characters other than tab, CR and LF are removed."""
    if value.isprintable() or not _NOT_CLEAN.search(value):
        return value
    if _SURROGATE.search(value):
        value = _str_to_bytes(value).decode("utf-8", "replace")
    return strip_controls(value)


_LOOSE_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# The common shapes, read without the stdlib's character-by-character address parser:
# "addr@example.jp", "<addr@example.jp>", "Name <addr@example.jp>", "=?UTF-8?B?...?= <addr>".
_SIMPLE_ADDRESS = re.compile(
    r'\s*(?:"?([^"<>,;:\\()]*?)"?\s*)?<([^<>\s",;:()\\@]+@[A-Za-z0-9.-]+)>\s*'
    r'|\s*([^<>\s",;:()\\@]+@[A-Za-z0-9.-]+)\s*'
)


def recipients(values: list[str], defects: list[str]) -> list[str]:
    """The addresses of To header values, lower-cased, as valid text (R29)."""
    simple = [_SIMPLE_ADDRESS.fullmatch(item) for v in values for item in v.split(",")]
    if simple and all(simple):
        found = [(m.group(2) or m.group(3)) for m in simple if m]
    else:
        try:
            found = [a for _, a in getaddresses(values) if a]
        except (RecursionError, ValueError, IndexError):  # pathological address lists
            defects.append("InvalidAddressListDefect")
            found = [a for v in values for a in _LOOSE_ADDRESS.findall(v)][:100]
    return [cleaned for a in found if (cleaned := clean_text(a).strip().lower())]


def address(value: str | None) -> dict[str, str | None]:
    """The display name (decoded, R28) and the address of a From value, as valid text (R29)."""
    if not value:
        return {"name": None, "address": None}
    simple = _SIMPLE_ADDRESS.fullmatch(value)
    try:
        if simple:
            name, found = simple.group(1) or "", simple.group(2) or simple.group(3)
        else:
            name, found = parseaddr(str(value))
    except (RecursionError, ValueError, IndexError):
        loose = _LOOSE_ADDRESS.search(value)
        name, found = "", loose.group(0) if loose else ""
    decoded = clean_text(decode_header_value(name)).strip() if name else ""
    return {"name": decoded or None, "address": clean_text(found).strip().lower() or None}


def mail_subject(head: bytes) -> str:
    """The decoded Subject of stored mail bytes (RFC 2047 words, R28) for a listing (the outbox,
    held mail), by the stdlib's default policy; "" when there is none or the bytes are not a
    readable header — a listing never fails on one bad row."""
    from email import policy  # the parser's hot path never loads the default policy
    from email.parser import BytesHeaderParser

    ends = [i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0]
    head = head[: min(ends, default=len(head))]
    try:
        message = BytesHeaderParser(policy=policy.default).parsebytes(head)
        subject = message["Subject"]
        return "" if subject is None else " ".join(str(subject).splitlines())
    except Exception:  # noqa: BLE001 - the stdlib's header parser raises assorted errors on junk
        return ""
