"""Large raw messages live in spool files, not in database rows (R29, bounded memory).

A message over :data:`SPOOL_THRESHOLD` bytes is written to ``$UKETSUKE_HOME/spool/`` while it
arrives (the SMTP door never holds it whole in memory) and its raw row names the file instead of
holding the bytes. Files are named by the SHA-256 of their content, so storing the same message
again (a client retrying after a lost 250, a second recipient profile) writes the same file; a
file is fsynced and renamed into place before the row that names it is committed, so a committed
row always finds its file. The processor maps the file (``mmap``) and parses it without copying
the attachments.

Back up ``spool/`` together with the database.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

SPOOL_THRESHOLD = 1 << 20  # bytes: larger raw messages go to the spool
HEAD_BYTES = 1 << 16  # kept in memory for header look-ups (Message-ID) before commit
TEMPORARY_MAX_AGE = 3600.0  # seconds: a partial file untouched this long was cut off by a crash

RawContent = bytes | mmap.mmap


def spool_dir(home: Path) -> Path:
    return home / "spool"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class SpooledData:
    """A message written to a temporary spool file; :meth:`finish` puts it in place durably."""

    directory: Path
    size: int = 0
    head: bytes = b""
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256, repr=False)
    _file: IO[bytes] | None = field(default=None, repr=False)
    _temp: Path | None = None
    name: str | None = None  # once in place: the file name under ``directory``

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._file is None:
            (self.directory / "tmp").mkdir(parents=True, exist_ok=True)
            self._temp = self.directory / "tmp" / f"{uuid.uuid4().hex}.part"
            self._file = open(self._temp, "wb")  # noqa: SIM115 - closed in finish/discard
        self._file.write(data)
        self._hash.update(data)
        if len(self.head) < HEAD_BYTES:
            self.head += bytes(data[: HEAD_BYTES - len(self.head)])
        self.size += len(data)

    @property
    def digest(self) -> str:
        return self._hash.hexdigest()

    def finish(self) -> str:
        """fsync, rename to ``<sha256>.eml``, fsync the folder; returns the file name."""
        if self.name is not None:
            return self.name
        if self._file is None:
            self.write(b"")
        assert self._file is not None and self._temp is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        name = f"{self.digest}.eml"
        os.replace(self._temp, self.directory / name)
        _fsync_dir(self.directory)
        self.name = name
        return name

    def discard(self) -> None:
        """Drop the temporary file (a refused or cut-off transfer)."""
        if self._file is not None and not self._file.closed:
            self._file.close()
        if self._temp is not None and self.name is None:
            with contextlib.suppress(FileNotFoundError):
                self._temp.unlink()


def sweep_temporary(directory: Path, older_than: float = TEMPORARY_MAX_AGE) -> int:
    """Remove partial files of transfers cut off by a crash (no row ever names a file in
    ``tmp/``: a file is renamed out of it before its row is committed). Only files untouched for
    ``older_than`` seconds go, so a transfer still under way elsewhere keeps its file."""
    removed = 0
    limit = time.time() - older_than
    for path in (directory / "tmp").glob("*.part"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
    return removed


def spool_bytes(directory: Path, data: bytes) -> SpooledData:
    """Spool a message already in memory (an IMAP fetch over the threshold)."""
    spooled = SpooledData(directory)
    spooled.write(data)
    return spooled


@contextlib.contextmanager
def open_raw(directory: Path, data: bytes | None, name: str | None) -> Iterator[RawContent]:
    """The raw message: the row's bytes, or its spool file mapped read-only."""
    if data is not None or name is None:
        yield data or b""
        return
    path = directory / name
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            yield b""
            return
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            yield mapped
        finally:
            with contextlib.suppress(BufferError):  # a view still alive: closed when collected
                mapped.close()


def read_raw(directory: Path, data: bytes | None, name: str | None) -> bytes:
    """The raw message as bytes (for code that needs them whole, such as fax OCR)."""
    if data is not None or name is None:
        return data or b""
    return (directory / name).read_bytes()
