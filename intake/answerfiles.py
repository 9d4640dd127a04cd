"""Files a staff member attaches to an answer (R20): checked against the limits of the web form
(``intake.filelimits``) and sent to the customer with the answer.

The files are the parts ``uketsuke parse`` lists as attachments, read from the staff member's
mail as stored. A file of a refused type or size, or too many files, refuses the whole answer
(CommandError: the staff member gets a ``staff_error`` mail, nothing is sent). A ``#note``'s or a
``#split``'s files are not read here: they stay with the stored mail, shown to staff only.
Files given on the dashboard have no stored mail: :func:`keep_files` keeps them with the
answer's or note's message (``answer_files``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.filelimits import (
    ALLOWED,
    AttachedFile,
    FileRefused,
    check_count,
    check_size,
    checked_file,
)
from intake.mail.mime import Part, filename_of, payload, payload_size
from intake.mail.parse import _body, _parse_bytes
from intake.models import AnswerFile, IncidentMessage
from intake.staffcommands import CommandError, StaffAnswer

_SUFFIX = {content_type: suffix for suffix, content_type in reversed(ALLOWED.items())}


def attachment_parts(content: bytes) -> list[Part]:
    """The attachment parts of a stored mail, in the order ``parse_message`` lists them."""
    return _body(_parse_bytes(content), [])[1]


def mailed_files(content: bytes) -> list[AttachedFile]:
    """The files attached to a staff member's mail, checked; FileRefused says why not."""
    parts = attachment_parts(content)
    check_count(len(parts))
    files = []
    for index, part in enumerate(parts):
        name = filename_of(part.headers) or _unnamed(part, index)
        check_size(name, payload_size(part))  # measured before it is decoded
        files.append(checked_file(name, payload(part, [])))
    return files


def _unnamed(part: Part, index: int) -> str:
    """A name for a file part without one: 添付1.pdf by its type, or its type when not allowed."""
    suffix = _SUFFIX.get(part.content_type)
    return f"添付{index + 1}{suffix}" if suffix else f"添付{index + 1}（{part.content_type}）"


def attach_mailed_files(answer: StaffAnswer, content: bytes) -> None:
    """The mail's files go with an answer for the customer; CommandError when one is refused."""
    if answer.note or answer.split:
        return
    try:
        files = mailed_files(content)
    except FileRefused as exc:
        raise CommandError(
            f"attachment refused: {exc.english}", f"添付ファイルを送れません: {exc}"
        ) from None
    give_files(answer, files)


def give_files(answer: StaffAnswer, files: list[AttachedFile]) -> None:
    """Files go with an answer or a note, never alone: a mail of files without an answer would
    reach the customer as nothing (CommandError)."""
    if files and not (answer.text or answer.canned or answer.note):
        raise CommandError(
            "files alone cannot be sent: write the answer's text too",
            "添付ファイルだけでは送れません。回答の本文も書いてください",
        )
    if files and answer.split:
        raise CommandError(
            "#split: the new incident cannot take attachments",
            "#split の新しいインシデントには添付ファイルを付けられません",
        )
    answer.attachments = files


def keep_files(
    session: Session, message: IncidentMessage, files: Sequence[AttachedFile], now: datetime
) -> None:
    """Store the files of a dashboard answer or note with its message, for the thread."""
    session.flush()  # the message's id
    for item in files:
        session.add(
            AnswerFile(
                message_id=message.id,
                filename=item.filename,
                content_type=item.content_type,
                size=len(item.data),
                data=item.data,
                created_at=now,
            )
        )


def kept_files(session: Session, message_ids: Sequence[int]) -> dict[int, list[Any]]:
    """The kept files of these messages (id, name, type and size; not the bytes), by message."""
    rows = session.execute(
        select(
            AnswerFile.id,
            AnswerFile.message_id,
            AnswerFile.filename,
            AnswerFile.content_type,
            AnswerFile.size,
        )
        .where(AnswerFile.message_id.in_(message_ids))
        .order_by(AnswerFile.id)
    ).all()
    files: dict[int, list[Any]] = {}
    for row in rows:
        files.setdefault(row.message_id, []).append(row)
    return files
