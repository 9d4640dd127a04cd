"""A lazy MIME tree: headers parsed by the stdlib, bodies only located, never copied line by line.

The stdlib's feed parser walks every line of a message, attachments included; intake needs the
headers, the text part it reads and the name, type and size of the rest (issue 3 benchmark). So
each part's header block is parsed with ``email`` (``compat32``) and multipart bodies are split at
their boundaries with one regular-expression scan; a 200 KB attachment costs one search, not
three thousand ``readline`` calls. Bounded: nesting depth and part count are capped (R29).

Nothing is copied to locate a part: every body is a window (offsets) on the one buffer the
message came in, ``bytes`` or a read-only ``mmap`` of the spool file, so a 25 MB mail with an
18 MB attachment costs its headers and the text that is read, not three copies of itself (R29).

Reading a part never raises: MIME parameters the stdlib cannot join or decode (RFC 2231 in the
``idna`` charset, ``name*`` beside ``name*0``) are read one by one, file names come out as valid
text, and bodies are transfer-decoded as far as they go, with a defect.
"""

from __future__ import annotations

import binascii
import mmap
import re
from email import errors, utils
from email.message import Message, _parseparam
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from intake.mail.access import header
from intake.mail.headers import clean_text, decode_param

# What a message is parsed from: bytes, or a read-only mapping of the spool file holding it.
Buffer = bytes | mmap.mmap

MAX_DEPTH = 20
MAX_PARTS = 500

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_BLANK_LINE = re.compile(rb"\r?\n")  # matched at a part's start: no header block
# What may follow ``--boundary`` on a delimiter line: ``--`` (the close), then blanks.
_DELIMITER_REST = re.compile(rb"(--)?[ \t\r]*")
# One header field: a name, a colon, the value and its folded continuation lines (RFC 5322 2.2).
_FIELD = re.compile(r"([!-9;-~]+):[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)")
_SIMPLE_HEAD = re.compile(r"(?:[!-9;-~]+:[^\n]*(?:\n[ \t][^\n]*)*(?:\n|$))*")
_PARAM_ERRORS = (TypeError, ValueError, IndexError, LookupError)  # UnicodeError is a ValueError


class IndexedMessage(Message):
    """A compat32 Message whose ``get`` is a dict look-up (intake asks for ~30 headers a message,
    and the stdlib scans the whole header list for each) returning the raw value.

    Its parameter readers never raise (R29): the stdlib's raise TypeError for ``name*`` beside
    ``name*0``, and UnicodeError for an RFC 2231 value in the ``idna`` or ``undefined`` charset.
    """

    _index: dict[str, str] | None = None

    def get(self, name: str, failobj: object = None) -> object:  # type: ignore[override]
        index = self._index
        if index is None:
            index = {}
            for key, value in self._headers:
                index.setdefault(key.lower(), value)
            self._index = index
        value = index.get(name.lower())
        # The raw value, raw 8-bit bytes kept as surrogate escapes: compat32 would wrap such a
        # value in a Header whose str() turns every byte into U+FFFD before our decoder (R28)
        # sees it. Parameters (get_param, get_filename) are read from the same raw value.
        return failobj if value is None else value

    def __setitem__(self, name: str, value: object) -> None:
        self._index = None
        super().__setitem__(name, value)

    def __delitem__(self, name: str) -> None:
        self._index = None
        super().__delitem__(name)

    def set_raw(self, name: str, value: object) -> None:
        self._index = None
        super().set_raw(name, value)

    def _get_params_preserve(self, failobj: object, header: str) -> Any:
        """The parameters as the stdlib reads them; when its RFC 2231 joining fails, each
        parameter decoded on its own (for ``get_param``, ``get_params`` and all that use them)."""
        try:
            return super()._get_params_preserve(failobj, header)
        except _PARAM_ERRORS:
            pass
        pieces = [p.partition("=") for p in _parseparam(str(self.get(header, "")))]
        params = [(name.strip(), value.strip()) for name, _, value in pieces[:1]]
        for name, _, value in pieces[1:]:
            try:
                params += utils.decode_params([("", ""), (name.strip(), value.strip())])[1:]
            except _PARAM_ERRORS:
                continue
        return params

    def get_boundary(self, failobj: Any = None) -> Any:
        try:
            return super().get_boundary(failobj)
        except _PARAM_ERRORS:  # an RFC 2231 boundary in a charset that cannot decode it
            value = self.get_param("boundary", None)
            value = value[2] if isinstance(value, tuple) else value
            return utils.unquote(value).rstrip() if isinstance(value, str) else failobj

    def get_filename(self, failobj: Any = None) -> Any:
        """The file name decoded as intake decodes it (R28), valid text, never an exception."""
        name = filename_of(self)
        return failobj if name is None else name


_HEADER_PARSER = BytesHeaderParser(_class=IndexedMessage, policy=compat32)


class Part:
    """One MIME entity: its headers (a compat32 Message without payload) and its raw body.

    The body is a window ``buffer[start:end]`` on the one buffer the whole message was parsed
    from (``bytes`` or a read-only ``mmap``): locating a part copies nothing. :attr:`size` needs
    no copy; :attr:`body` slices, so only parts that are really read (text parts, small
    reports) are ever copied, never an attachment that is only measured (R29).
    """

    __slots__ = ("_type", "buffer", "capped", "children", "defects", "end", "headers", "start")

    def __init__(
        self,
        headers: Message,
        buffer: Buffer = b"",
        start: int = 0,
        end: int | None = None,
        children: list[Part] | None = None,
        defects: list[str] | None = None,
    ) -> None:
        self.headers = headers
        self.buffer = buffer
        self.start = start
        self.end = len(buffer) if end is None else end
        self.children: list[Part] = [] if children is None else children
        self.defects: list[str] = [] if defects is None else defects
        self.capped = False  # a multipart left unsplit: past MAX_DEPTH or MAX_PARTS (R29)
        self._type: str | None = None

    def __repr__(self) -> str:
        return f"Part({self.content_type!r}, size={self.size}, children={len(self.children)})"

    @property
    def body(self) -> bytes:
        """The raw body (transfer-encoded): a copy of the window, made on each access."""
        return self.buffer[self.start : self.end]

    @property
    def size(self) -> int:
        """Length of the raw body in bytes, without copying it."""
        return self.end - self.start

    @property
    def content_type(self) -> str:
        """``type/subtype``, lower case, read once (the headers of a part do not change)."""
        if self._type is None:
            self._type = self.headers.get_content_type()
        return self._type

    @property
    def maintype(self) -> str:
        return self.content_type.split("/", 1)[0]

    @property
    def is_multipart(self) -> bool:
        return self.content_type.startswith("multipart/")

    def walk(self) -> list[Part]:
        """Every part, depth first, in document order (iterative: no recursion limit)."""
        out: list[Part] = []
        stack = [self]
        while stack:
            part = stack.pop()
            out.append(part)
            stack.extend(reversed(part.children))
        return out


def filename_of(headers: Message) -> str | None:
    """A part's file name: Content-Disposition ``filename``, else Content-Type ``name``, decoded
    (R28: RFC 2231, encoded-words, raw 8-bit) to valid text without control characters (R29).
    None when the part names no file; never raises."""
    try:
        raw = headers.get_param("filename", None, "content-disposition")
        if raw is None:
            raw = headers.get_param("name", None, "content-type")
    except _PARAM_ERRORS:
        return None
    return None if raw is None else clean_text(decode_param(raw)).strip()  # type: ignore[arg-type]


def names_a_file(headers: Message) -> bool:
    """Whether the part has a file name, without decoding it."""
    try:
        return (
            headers.get_param("filename", None, "content-disposition") is not None
            or headers.get_param("name", None, "content-type") is not None
        )
    except _PARAM_ERRORS:
        return False


def transfer_encoding(part: Part) -> str:
    return header(part.headers, "Content-Transfer-Encoding").strip().lower()


_SIZE_SLICE = 1 << 16  # base64 is measured a slice at a time: no copy of an attachment (R29)
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


def payload_size(part: Part) -> int:
    """Decoded size without decoding: base64 is 3/4 of its characters (name, type, size)."""
    if transfer_encoding(part) != "base64":
        return part.size
    buffer, end = part.buffer, part.end
    characters = 0
    for start in range(part.start, end, _SIZE_SLICE):
        piece = buffer[start : min(start + _SIZE_SLICE, end)]
        characters += len(piece.translate(None, b"\r\n\t ="))
    return characters * 3 // 4


def _lenient_base64(data: bytes) -> bytes:
    """Base64 with broken padding or a cut-off end, decoded as far as it goes (R29)."""
    try:
        return binascii.a2b_base64(data, strict_mode=False)
    except binascii.Error:
        compact = _NOT_BASE64.sub(b"", data)
        if len(compact) % 4 == 1:
            compact = compact[:-1]
        return binascii.a2b_base64(compact + b"=" * (-len(compact) % 4))


def payload(part: Part, defects: list[str]) -> bytes:
    """The body with its transfer encoding (base64, quoted-printable) undone, as far as it goes;
    a defect when it would not decode (R29)."""
    encoding = transfer_encoding(part)
    data = part.body
    try:
        if encoding == "base64":
            return _lenient_base64(data)
        if encoding == "quoted-printable":
            return binascii.a2b_qp(data)
    except (ValueError, binascii.Error):
        defects.append("UndecodablePayloadDefect")
    return data


def locate_head(buffer: Buffer, start: int, end: int) -> tuple[int, int]:
    """Where the header block of ``buffer[start:end]`` ends and its body starts, as offsets:
    the head is ``buffer[start:head_end]``, the body ``buffer[body_start:end]``. A part that
    starts with a blank line has no headers; one without a blank line is all headers."""
    blank = _BLANK_LINE.match(buffer, start, end)
    if blank is not None:
        return start, blank.end()
    found = _HEADER_END.search(buffer, start, end)
    if found is None:
        return end, end
    return found.start(), found.end()


def parse_headers(head: bytes) -> Message:
    """The header block as a compat32 Message. Plain header blocks are split by one regular
    expression (the same name/value split compat32 makes); anything unusual (an mbox ``From ``
    line, a line without a colon) goes through the stdlib parser, which records the defects."""
    text = head.decode("ascii", "surrogateescape").replace("\r\n", "\n").replace("\r", "\n")
    if _SIMPLE_HEAD.fullmatch(text):
        message = IndexedMessage(policy=compat32)
        message._headers = [(m.group(1), m.group(2)) for m in _FIELD.finditer(text)]
        return message
    return _HEADER_PARSER.parsebytes(head + b"\n\n")


def is_cr_only(data: Buffer, start: int = 0) -> bool:
    """Old Mac line ends (CR alone), judged on the first 8 KB."""
    probe = data[start : start + 8192]
    return b"\n" not in probe and b"\r" in probe


def parse_tree(data: Buffer, start: int = 0) -> Part:
    """The MIME tree of the message ``data[start:]`` (``bytes`` or an ``mmap``), every body a
    window on ``data``. Never raises for malformed MIME; defects are recorded."""
    if is_cr_only(data, start):
        data, start = data[start:].replace(b"\r", b"\n"), 0  # the one copy, for a rare format
    head_end, body_start = locate_head(data, start, len(data))
    return build_tree(data, data[start:head_end], body_start)


def build_tree(data: Buffer, head: bytes, body_start: int) -> Part:
    """The tree of a message whose header block is ``head`` and whose body is
    ``data[body_start:]``."""
    root = Part(parse_headers(head), data, body_start, len(data))
    root.defects.extend(type(d).__name__ for d in root.headers.defects)
    count = 1
    stack: list[tuple[Part, int]] = [(root, 0)]
    while stack:
        part, depth = stack.pop()
        if not part.is_multipart:
            continue
        if depth >= MAX_DEPTH or count >= MAX_PARTS:
            root.defects.append("TooDeeplyNestedDefect")
            part.capped = True
            continue
        boundary = part.headers.get_boundary()
        digest = part.content_type == "multipart/digest"
        if not boundary:
            root.defects.append(errors.NoBoundaryInMultipartDefect.__name__)
            continue
        for chunk_start, chunk_end in _split_multipart(
            data, part.start, part.end, boundary, root.defects
        ):
            head_end, child_start = locate_head(data, chunk_start, chunk_end)
            child = Part(parse_headers(data[chunk_start:head_end]), data, child_start, chunk_end)
            if digest:  # RFC 2046 5.1.5: a digest's parts are messages unless they say otherwise
                child.headers.set_default_type("message/rfc822")
            part.children.append(child)
            count += 1
            stack.append((child, depth + 1))
            if count >= MAX_PARTS:
                break
    return root


def _split_multipart(
    data: Buffer, start: int, end: int, boundary: str, defects: list[str]
) -> list[tuple[int, int]]:
    """The parts between ``--boundary`` lines of ``data[start:end]``, as ``(start, end)``
    offsets; the preamble and epilogue are dropped.

    ``find`` jumps from candidate to candidate at C speed; a candidate counts only at the start
    of a line and followed by ``--``, blanks or the line end (RFC 2046 5.1.1).
    """
    try:
        marker = b"--" + boundary.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        marker = b"--" + boundary.encode("utf-8", "replace")
    chunks: list[tuple[int, int]] = []
    chunk_start: int | None = None
    closed = False
    position = start
    while (found := data.find(marker, position, end)) >= 0:
        position = found + len(marker)
        if found != start and data[found - 1] != 0x0A:  # not at the start of a line
            continue
        line_end = data.find(b"\n", position, end)
        rest = _DELIMITER_REST.fullmatch(data, position, end if line_end < 0 else line_end)
        if rest is None:
            continue  # "--boundaryX": a longer boundary, not ours
        if chunk_start is not None:
            chunk_end = found - 1  # the line break before the delimiter belongs to it
            if chunk_end > chunk_start and data[chunk_end - 1] == 0x0D:
                chunk_end -= 1
            chunks.append((chunk_start, max(chunk_end, chunk_start)))
        if rest.group(1):
            closed = True
            break
        chunk_start = end if line_end < 0 else line_end + 1
        position = chunk_start
    else:
        if chunk_start is not None:
            chunks.append((chunk_start, end))
    if not closed:
        defects.append(errors.CloseBoundaryNotFoundDefect.__name__)
    if chunk_start is None and not closed:
        defects.append(errors.StartBoundaryNotFoundDefect.__name__)
    return chunks
