"""Files attached to an inquiry on the web form or to a staff answer: how many, how large and
which types (by the name's suffix). Pure: the web form (``intake.web.uploads``), a mailed staff
answer and the dashboard's answer form check files alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

MAX_FILES = 5
MAX_FILE_BYTES = 4 * 1024 * 1024
ALLOWED = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".txt": "text/plain",
    ".log": "text/plain",
    ".csv": "text/csv",
    ".zip": "application/zip",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
KINDS_TEXT = "、".join(sorted(s.lstrip(".") for s in ALLOWED))
LIMITS_TEXT = f"{MAX_FILES}個まで、1ファイル{MAX_FILE_BYTES // (1024 * 1024)}MBまで（{KINDS_TEXT}）"


@dataclass
class AttachedFile:
    """A file as checked: its shown name, its type (from :data:`ALLOWED`) and its bytes."""

    filename: str
    content_type: str
    data: bytes


class FileRefused(ValueError):
    """Why a file (or their number) is refused, in Japanese; ``english`` for the command line."""

    def __init__(self, message: str, english: str | None = None) -> None:
        super().__init__(message)
        self.english = english or message


def check_count(count: int) -> None:
    if count > MAX_FILES:
        raise FileRefused(
            f"添付できるファイルは{MAX_FILES}個までです。", f"at most {MAX_FILES} files"
        )


def checked_file(name: str, data: bytes) -> AttachedFile:
    """The file, when its type and size are allowed (``data`` may be read one byte past
    :data:`MAX_FILE_BYTES`, to tell a file that is too large)."""
    suffix = PurePosixPath(name.replace("\\", "/")).suffix.lower()
    if suffix not in ALLOWED:
        raise FileRefused(
            f"{name}: 添付できる形式は {KINDS_TEXT} です。",
            f"{name}: allowed types are {KINDS_TEXT.replace('、', ', ')}",
        )
    check_size(name, len(data))
    return AttachedFile(display_name(name), ALLOWED[suffix], data)


def check_size(name: str, size: int) -> None:
    if size > MAX_FILE_BYTES:
        megabytes = MAX_FILE_BYTES // (1024 * 1024)
        raise FileRefused(
            f"{name}: 1ファイル{megabytes}MBまでです。", f"{name}: at most {megabytes} MB a file"
        )
    if not size:
        raise FileRefused(f"{name}: 空のファイルです。", f"{name}: the file is empty")


def display_name(name: str) -> str:
    """The file name without a path or control characters (Japanese kept)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable()).strip()
    return cleaned[:200] or "file"
