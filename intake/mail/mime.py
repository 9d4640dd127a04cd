"""A lazy MIME tree: headers parsed by the stdlib, bodies only located, never copied line by line.

The stdlib's feed parser walks every line of a message, attachments included; intake needs the
headers, the text part it reads and the name, type and size of the rest (issue 3 benchmark). So
each part's header block is parsed with ``email`` (``compat32``) and multipart bodies are split at
their boundaries with one regular-expression scan; a 200 KB attachment costs one search, not
three thousand ``readline`` calls. Bounded: nesting depth and part count are capped (R29).

Nothing is copied to locate a part: every body is a window (offsets) on the one buffer the
message came in, ``bytes`` or a read-only ``mmap`` of the spool file, so a 25 MB mail with an
18 MB attachment costs its headers and the text that is read, not three copies of itself (R29).
"""

from __future__ import annotations

import mmap
import re
from email import errors
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

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


class IndexedMessage(Message):
    """A compat32 Message whose ``get`` is a dict look-up (intake asks for ~30 headers a message,
    and the stdlib scans the whole header list for each) returning the raw value."""

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


_HEADER_PARSER = BytesHeaderParser(_class=IndexedMessage, policy=compat32)


class Part:
    """One MIME entity: its headers (a compat32 Message without payload) and its raw body.

    The body is a window ``buffer[start:end]`` on the one buffer the whole message was parsed
    from (``bytes`` or a read-only ``mmap``): locating a part copies nothing. :attr:`size` needs
    no copy; :attr:`body` slices, so only parts that are really read (text parts, small
    reports) are ever copied, never an attachment that is only measured (R29).
    """

    __slots__ = ("buffer", "children", "defects", "end", "headers", "start")

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
        return self.headers.get_content_type()

    @property
    def is_multipart(self) -> bool:
        return self.headers.get_content_maintype() == "multipart"

    def walk(self) -> list[Part]:
        """Every part, depth first, in document order (iterative: no recursion limit)."""
        out: list[Part] = []
        stack = [self]
        while stack:
            part = stack.pop()
            out.append(part)
            stack.extend(reversed(part.children))
        return out


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


def split_head(data: bytes) -> tuple[bytes, bytes]:
    """Header block and body; a message that starts with a blank line has no headers."""
    head_end, body_start = locate_head(data, 0, len(data))
    return data[:head_end], data[body_start:]


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
            continue
        boundary = part.headers.get_boundary()
        if not boundary:
            root.defects.append(errors.NoBoundaryInMultipartDefect.__name__)
            continue
        for chunk_start, chunk_end in _split_multipart(
            data, part.start, part.end, boundary, root.defects
        ):
            head_end, child_start = locate_head(data, chunk_start, chunk_end)
            child = Part(parse_headers(data[chunk_start:head_end]), data, child_start, chunk_end)
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
