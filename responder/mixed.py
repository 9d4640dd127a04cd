"""A composed text mail with files: multipart/mixed, the text first (R10, R20).

``responder.compose`` writes the text mail's header and body; here its three content fields
(``Content-Type``, ``MIME-Version``, ``Content-Transfer-Encoding``) make way for a
``multipart/mixed`` header, and the text becomes the first part exactly as composed (so an
ISO-2022-JP answer stays ISO-2022-JP). Each file is one part made with the stdlib's
:class:`email.message.MIMEPart` (base64, ``Content-Disposition: attachment``, its name in
RFC 2231 encoding when it is not ASCII), written with CRLF line ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from email import policy
from email.message import MIMEPart

from intake.filelimits import AttachedFile

_CRLF = b"\r\n"
_CONTENT_FIELDS = ("content-type:", "mime-version:", "content-transfer-encoding:")


def with_attachments(head: Sequence[str], body: bytes, files: Sequence[AttachedFile]) -> bytes:
    """The mail of ``head`` (its fields, as composed) and ``body`` (the text, encoded), with
    ``files`` after the text."""
    boundary = f"=_uk_{uuid.uuid4().hex}"
    content = [h for h in head if h.lower().startswith(_CONTENT_FIELDS)]
    others = [h for h in head if h not in content]
    top = [
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
        *others,
    ]
    delimiter = b"--" + boundary.encode("ascii")
    text_part = [h for h in content if not h.lower().startswith("mime-version:")]
    pieces = [
        "\r\n".join(top).encode("ascii") + _CRLF * 2,
        delimiter + _CRLF,
        "\r\n".join(text_part).encode("ascii") + _CRLF * 2,
        body,
    ]
    for item in files:
        pieces += [_CRLF, delimiter, _CRLF, _file_part(item)]
    pieces += [_CRLF, delimiter, b"--", _CRLF]
    return b"".join(pieces)


def _file_part(item: AttachedFile) -> bytes:
    maintype, _, subtype = item.content_type.partition("/")
    part = MIMEPart(policy=policy.SMTP)
    part.set_content(
        item.data,
        maintype=maintype,
        subtype=subtype or "octet-stream",
        disposition="attachment",
        filename=item.filename,
    )
    return part.as_bytes(policy=policy.SMTP).rstrip(_CRLF)
