"""Attachments of stored mail for staff: listed on the incident and held pages, downloaded one by
one (R26, R29).

The attachments are the parts ``uketsuke parse`` lists (``attachments``, in that order), read
from the raw message as stored, its row or its spool file. A download is always
``application/octet-stream`` with ``Content-Disposition: attachment`` and ``nosniff``: a
customer's HTML or SVG is never rendered in the staff's browser, under the dashboard's origin.
Raw mail removed by retention (R26) has nothing left to download.

A customer's file name is shown neutralised (:func:`neutral_name`): a bidirectional override
such as U+202E would show ``x\u202egnp.exe`` as ``xexe.png``, so each bidi or other invisible
format or control character is shown as a visible ``[U+202E]``, on the page and in the
download's file name alike.
"""

from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass
from typing import Any

from flask import abort, send_file

from intake.mail.mime import Part, filename_of, payload, payload_size
from intake.mail.parse import NotAMessage, _body, _parse_bytes
from intake.models import RawMessage
from intake.spool import open_raw, spool_dir
from intake.steps.web import FORM_PART
from intake.web.context import web_context
from intake.web.staff_common import audit_view, check_profile, reading
from intake.web.textsearch import is_control

MAX_LISTED_BYTES = 64 * 1024 * 1024  # larger raw mail is not opened to list its parts


@dataclass
class AttachmentRef:
    raw_id: int
    index: int
    filename: str | None
    content_type: str
    size: int

    @property
    def shown_name(self) -> str:
        return neutral_name(self.filename) or f"attachment-{self.index + 1}"


def neutral_name(name: str | None) -> str:
    """``name`` with every bidi control, other invisible format character (Cf) and control
    character written out as a visible ``[U+XXXX]``, so it reads in its stored order."""
    if not name:
        return ""
    return "".join(
        f"[U+{ord(ch):04X}]" if is_control(ch) or unicodedata.category(ch) == "Cf" else ch
        for ch in name
    )


def _parts(content: Any) -> list[Part]:
    """The attachment parts, in the order ``parse_message`` lists them."""
    return _body(_parse_bytes(content), [])[1]


def attachments_of(raw: RawMessage) -> list[AttachmentRef]:
    """What a stored message carries besides its text; [] when its bytes are gone or it is not
    a mail (an unprocessable message is still listed as such, never raised on)."""
    if raw.purged_at is not None or raw.size > MAX_LISTED_BYTES:
        return []
    directory = spool_dir(web_context().config.home_path)
    try:
        with open_raw(directory, raw.data, raw.spool) as content:
            return [
                AttachmentRef(raw.id, i, filename_of(p.headers), p.content_type, payload_size(p))
                for i, p in enumerate(_parts(content))
                if filename_of(p.headers) != FORM_PART  # the web form's own record, not a file
            ]
    except (NotAMessage, OSError):
        return []


def download(raw_id: int, index: int) -> Any:
    with reading() as session:
        raw = session.get(RawMessage, raw_id)
    if raw is None:
        abort(404)
    check_profile(raw.profile)
    if raw.purged_at is not None:
        abort(410)
    directory = spool_dir(web_context().config.home_path)
    try:
        with open_raw(directory, raw.data, raw.spool) as content:
            parts = _parts(content)
            if index >= len(parts):
                abort(404)
            name = neutral_name(filename_of(parts[index].headers)) or f"attachment-{index + 1}"
            data = payload(parts[index], [])
    except (NotAMessage, OSError):
        abort(404)
    audit_view("download_attachment", f"raw:{raw_id}", index=index)
    return send_download(data, name)


def send_download(data: bytes, name: str) -> Any:
    """``data`` as a download named ``name``: never rendered in the staff's browser."""
    name = "".join("_" if ch in '/\\"' or not ch.isprintable() else ch for ch in name)
    response = send_file(
        io.BytesIO(data),
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=name,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
