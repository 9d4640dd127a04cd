"""Building test mail the way real senders encode it (byte for byte)."""

from __future__ import annotations

import base64
import itertools
from email.header import Header

_counter = itertools.count(1)

FIELDS_BLOCK = (
    "会社名：株式会社サンプル商事\n"
    "氏名：山田 太郎\n"
    "ドメイン名：example.co.jp\n"
    "顧客番号：C0123-4567\n"
)


def new_message_id() -> str:
    return f"<test.{next(_counter)}@customer.example.co.jp>"


def make_mail(
    body: str,
    *,
    subject: str = "お問い合わせ",
    sender: str = "yamada@example.co.jp",
    to: str = "support@example.jp",
    charset: str = "utf-8",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """A single-part text mail; ISO-2022-JP 7bit, Shift_JIS base64 or UTF-8 base64."""
    message_id = message_id or new_message_id()
    encoded_subject = Header(subject, "iso-2022-jp" if charset == "iso-2022-jp" else "utf-8")
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {encoded_subject.encode()}",
        "Date: Tue, 24 Nov 2026 10:30:00 +0900",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
    ]
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}")
    crlf_body = body.replace("\n", "\r\n")
    if charset == "iso-2022-jp":
        lines += [
            "Content-Type: text/plain; charset=ISO-2022-JP",
            "Content-Transfer-Encoding: 7bit",
        ]
        payload = crlf_body.encode("iso2022_jp")
    else:
        codec = "cp932" if charset == "shift_jis" else charset
        lines += [
            f"Content-Type: text/plain; charset={charset}",
            "Content-Transfer-Encoding: base64",
        ]
        payload = base64.encodebytes(crlf_body.encode(codec)).replace(b"\n", b"\r\n")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + payload
