"""A lazy MIME tree: headers parsed by the stdlib, bodies only located, never copied line by line.

The stdlib's feed parser walks every line of a message, attachments included; intake needs the
headers, the text part it reads and the name, type and size of the rest (issue 3 benchmark). So
each part's header block is parsed with ``email`` (``compat32``) and multipart bodies are split at
their boundaries with one regular-expression scan; a 200 KB attachment costs one search, not
three thousand ``readline`` calls. Bounded: nesting depth and part count are capped (R29).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import errors
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

MAX_DEPTH = 20
MAX_PARTS = 500

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_LEADING_BLANK = re.compile(rb"^\r?\n")
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


@dataclass
class Part:
    """One MIME entity: its headers (a compat32 Message without payload) and its raw body."""

    headers: Message
    body: bytes
    children: list[Part] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)

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


def split_head(data: bytes) -> tuple[bytes, bytes]:
    """Header block and body; a message that starts with a blank line has no headers."""
    if _LEADING_BLANK.match(data):
        return b"", _LEADING_BLANK.sub(b"", data, count=1)
    end = _HEADER_END.search(data)
    if end is None:
        return data, b""
    return data[: end.start()], data[end.end() :]


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


def parse_tree(data: bytes) -> Part:
    """The MIME tree of a message. Never raises for malformed MIME; defects are recorded."""
    if b"\n" not in data[:8192] and b"\r" in data[:8192]:
        data = data.replace(b"\r", b"\n")  # old Mac line ends: CR alone
    head, body = split_head(data)
    root = Part(parse_headers(head), body)
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
        for chunk in _split_multipart(part.body, boundary, root.defects):
            child_head, child_body = split_head(chunk)
            child = Part(parse_headers(child_head), child_body)
            part.children.append(child)
            count += 1
            stack.append((child, depth + 1))
            if count >= MAX_PARTS:
                break
    return root


def _split_multipart(body: bytes, boundary: str, defects: list[str]) -> list[bytes]:
    """The parts between ``--boundary`` lines; the preamble and epilogue are dropped.

    ``bytes.find`` jumps from candidate to candidate at C speed; a candidate counts only at the
    start of a line and followed by ``--``, blanks or the line end (RFC 2046 5.1.1).
    """
    try:
        marker = b"--" + boundary.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        marker = b"--" + boundary.encode("utf-8", "replace")
    chunks: list[bytes] = []
    start: int | None = None
    closed = False
    position = 0
    while (found := body.find(marker, position)) >= 0:
        position = found + len(marker)
        if found and body[found - 1] != 0x0A:  # not at the start of a line
            continue
        line_end = body.find(b"\n", position)
        rest = body[position : len(body) if line_end < 0 else line_end]
        is_close = rest.startswith(b"--")
        if rest.removeprefix(b"--").strip(b" \t\r"):
            continue  # "--boundaryX": a longer boundary, not ours
        if start is not None:
            end = found - 1  # the line break before the delimiter belongs to it
            if end > start and body[end - 1] == 0x0D:
                end -= 1
            chunks.append(body[start : max(end, start)])
        if is_close:
            closed = True
            break
        start = len(body) if line_end < 0 else line_end + 1
        position = start
    else:
        if start is not None:
            chunks.append(body[start:])
    if not closed:
        defects.append(errors.CloseBoundaryNotFoundDefect.__name__)
    if start is None and not closed:
        defects.append(errors.StartBoundaryNotFoundDefect.__name__)
    return chunks
