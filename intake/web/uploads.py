"""Attachments between the form and its confirmation page (R30: nothing typed is lost).

Files chosen on the form are kept under ``<home>/web-uploads/<token>/`` while the customer looks
at the confirmation page; the token is in the customer's signed session only, so nobody else can
name them. Sent, they become parts of the stored submission and the folder is removed; an
abandoned folder is removed after a day.

Files are kept only for a form that is otherwise valid (``intake.web.public``), and the folder
as a whole holds at most :data:`MAX_AREA_BYTES`: when it is full, a file is refused with a
message asking the customer to try later or send it by mail, and that is logged once (again
only after the area had room in between).
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import threading
import time
from pathlib import Path

from werkzeug.datastructures import FileStorage

from intake.filelimits import (
    MAX_FILE_BYTES,
    AttachedFile,
    FileRefused,
    check_count,
    checked_file,
)

KEEP_SECONDS = 24 * 3600
MAX_AREA_BYTES = 256 * 1024 * 1024  # every folder under the upload area together
AREA_FULL = (
    "ただいま添付ファイルをお預かりできません。時間をおいてもう一度お試しいただくか、"
    "添付ファイルなしで送信し、受付のメールにご返信いただく形でファイルをお送りください。"
)
log = logging.getLogger("uketsuke.web")
_area_lock = threading.Lock()
_full: set[Path] = set()  # upload areas whose being full was logged


# A file the customer attached, checked; why one is refused (shown next to the field).
Upload = AttachedFile
UploadError = FileRefused


def check(files: list[FileStorage]) -> list[Upload]:
    """The chosen files, read and checked against the size and type limits."""
    chosen = [f for f in files if f and f.filename]
    check_count(len(chosen))
    return [checked_file(f.filename or "file", f.read(MAX_FILE_BYTES + 1)) for f in chosen]


def stash(root: Path, uploads: list[Upload]) -> str:
    """Keep files for the confirmation page; returns the token naming them. UploadError
    (:data:`AREA_FULL`) when they would take the upload area past :data:`MAX_AREA_BYTES`."""
    size = sum(len(u.data) for u in uploads)
    with _area_lock:
        _sweep(root)
        used = _used(root)
        if used + size > MAX_AREA_BYTES:
            if root not in _full:
                _full.add(root)
                log.warning(
                    "web upload area %s is full (%d of %d bytes): form attachments refused",
                    root,
                    used,
                    MAX_AREA_BYTES,
                )
            raise UploadError(AREA_FULL)
        if root in _full:
            _full.discard(root)
            log.info("web upload area %s has room again", root)
        return _write(root, uploads)


def _used(root: Path) -> int:
    if not root.is_dir():
        return 0
    total = 0
    for path in root.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:  # removed meanwhile
            continue
    return total


def _write(root: Path, uploads: list[Upload]) -> str:
    token = secrets.token_hex(16)
    folder = root / token
    folder.mkdir(parents=True)
    index = []
    for number, upload in enumerate(uploads):
        (folder / str(number)).write_bytes(upload.data)
        index.append({"filename": upload.filename, "content_type": upload.content_type})
    (folder / "index.json").write_text(json.dumps(index, ensure_ascii=False), encoding="utf-8")
    return token


def load(root: Path, token: str) -> list[Upload]:
    folder = root / token
    if not token.isalnum() or not (folder / "index.json").exists():
        return []
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    return [
        Upload(entry["filename"], entry["content_type"], (folder / str(n)).read_bytes())
        for n, entry in enumerate(index)
    ]


def discard(root: Path, token: str) -> None:
    if token.isalnum():
        shutil.rmtree(root / token, ignore_errors=True)


def _sweep(root: Path) -> None:
    if not root.is_dir():
        return
    cutoff = time.time() - KEEP_SECONDS
    for folder in root.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
