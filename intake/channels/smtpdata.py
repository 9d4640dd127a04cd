"""The DATA of an SMTP transaction, read in chunks (RFC 5321 4.1.1.4, 4.5.2).

aiosmtpd reads DATA a line at a time into a list of bytearrays and joins them at the end: a
Python iteration per 78-byte line and about four times the message in memory. Here the stream is
read up to each ``".\\r\\n"`` (the only place the end marker can be) in chunks, dot-stuffing is
undone per chunk, and the content goes into one buffer, or into a spool file once it is over
:data:`intake.spool.SPOOL_THRESHOLD`: a 25 MB message costs no more than the threshold in
memory. Lines of any length are accepted (a mail is never refused for its layout, R29).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from intake.spool import SPOOL_THRESHOLD, SpooledData

MARK = b".\r\n"
_END = b"\r\n.\r\n"


@dataclass
class Collected:
    """A received message: its bytes in memory, or a spool file being written."""

    data: bytes | None
    spooled: SpooledData | None
    size: int

    @property
    def head(self) -> bytes:
        return self.data if self.data is not None else self.spooled.head if self.spooled else b""


@dataclass
class DataCollector:
    """Feed the raw chunks of DATA; :meth:`feed` returns True once the end marker was read.

    ``limit`` is the largest message accepted (bytes after unstuffing); beyond it the rest is
    read and discarded (``too_big``), so the client gets its 552 after its final dot.
    """

    limit: int | None
    spool_directory: Path
    threshold: int = SPOOL_THRESHOLD
    size: int = 0
    too_big: bool = False
    _buffer: bytearray = field(default_factory=bytearray)
    _spooled: SpooledData | None = None
    _line_start: bool = True  # the stream is at the start of a line (after CRLF, or DATA's own)
    _after_cr: bool = False  # the last chunk ended with a CR

    def feed(self, chunk: bytes) -> bool:
        done = (
            chunk.endswith(_END)
            or (chunk == MARK and self._line_start)
            or (chunk == b"\n" + MARK and self._after_cr)
        )
        content = chunk[: -len(MARK)] if done else chunk
        # Undo dot-stuffing: a line that starts with "." lost its first dot.
        if self._line_start and content.startswith(b"."):
            content = content[1:]
        elif self._after_cr and content.startswith(b"\n."):
            content = b"\n" + content[2:]
        if b"\r\n." in content:
            content = content.replace(b"\r\n.", b"\r\n")
        self._line_start = chunk.endswith(b"\r\n")
        self._after_cr = chunk.endswith(b"\r")
        self._add(content)
        return done

    def _add(self, content: bytes) -> None:
        if self.too_big or not content:
            return
        self.size += len(content)
        if self.limit is not None and self.size > self.limit:
            self.too_big = True
            self.discard()
            return
        if self._spooled is not None:
            self._spooled.write(content)
            return
        self._buffer += content
        if len(self._buffer) > self.threshold:
            self._spooled = SpooledData(self.spool_directory)
            self._spooled.write(self._buffer)
            self._buffer = bytearray()

    def result(self) -> Collected:
        if self._spooled is not None:
            return Collected(None, self._spooled, self._spooled.size)
        return Collected(bytes(self._buffer), None, len(self._buffer))

    def discard(self) -> None:
        self._buffer = bytearray()
        if self._spooled is not None:
            self._spooled.discard()
            self._spooled = None


async def read_data(reader: asyncio.StreamReader, collector: DataCollector) -> None:
    """Read DATA from ``reader`` into ``collector`` up to and including the end marker.

    ``readuntil`` finds the marker at C speed in the reader's buffer; when the buffer outgrows
    the reader's limit first, the part that cannot hold the marker is taken as it is.
    """
    while True:
        try:
            chunk = await reader.readuntil(MARK)
        except asyncio.LimitOverrunError as overrun:
            chunk = await reader.readexactly(overrun.consumed)
        except asyncio.IncompleteReadError as cut:
            raise ConnectionResetError("connection lost during DATA") from cut
        if collector.feed(chunk):
            return
