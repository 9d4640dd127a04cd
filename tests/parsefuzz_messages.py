"""MIME built byte for byte for the parser's tests, and the built-in seeds of its fuzzing.

The seeds are what Japanese support mail looks like: ISO-2022-JP from Outlook, Shift_JIS from
old Windows mailers, EUC-JP, UTF-8 with HTML alternatives, attachments with RFC 2231 and
encoded-word names, text parts around an attachment (Apple Mail, mobile mailers), a DSN. They
let the fuzz tests run where /work/shared/corpus is absent.
"""

from __future__ import annotations

import base64
import quopri
from email.header import Header

COMPANY_AND_NAME = "会社名：株式会社サンプル商事\n氏名：山田 太郎\n"
DOMAIN_AND_NUMBER = "ドメイン名：example.co.jp\n顧客番号：C0123-4567\n"
FIELDS = COMPANY_AND_NAME + DOMAIN_AND_NUMBER
CRLF = b"\r\n"


def crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def transfer(data: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        return base64.encodebytes(data).replace(b"\n", CRLF)
    if encoding == "quoted-printable":
        return quopri.encodestring(data.replace(CRLF, b"\n")).replace(b"\n", CRLF)
    return data


def part(
    content_type: str,
    data: bytes,
    *,
    encoding: str = "8bit",
    disposition: str | None = None,
    headers: tuple[str, ...] = (),
) -> bytes:
    """One MIME entity: its header lines, a blank line, the body in its transfer encoding."""
    lines = [f"Content-Type: {content_type}", f"Content-Transfer-Encoding: {encoding}"]
    if disposition:
        lines.append(f"Content-Disposition: {disposition}")
    lines += headers
    head = "\r\n".join(lines).encode("ascii", "surrogateescape")  # raw 8-bit as escapes
    return head + CRLF + CRLF + transfer(data, encoding)


def text_part(text: str, charset: str, encoding: str = "8bit", **options: object) -> bytes:
    codec = {"shift_jis": "cp932", "iso-2022-jp": "iso2022_jp"}.get(charset.lower(), charset)
    data = crlf(text).encode(codec)
    return part(f"text/plain; charset={charset}", data, encoding=encoding, **options)  # type: ignore[arg-type]


def multipart(subtype: str, parts: list[bytes], boundary: str, *, params: str = "") -> bytes:
    """A multipart entity (its own Content-Type line included) holding ``parts``."""
    marker = b"--" + boundary.encode("ascii")
    head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"{params}\r\n\r\n'.encode()
    body = b"".join(marker + CRLF + p + CRLF for p in parts)
    return head + b"This is a multi-part message in MIME format.\r\n" + body + marker + b"--\r\n"


def message(
    entity: bytes,
    *,
    subject: str = "お問い合わせ",
    sender: str = "yamada@example.co.jp",
    message_id: str = "<seed.1@customer.example.co.jp>",
    charset: str = "utf-8",
    extra: tuple[str, ...] = (),
) -> bytes:
    """A whole mail around a MIME entity (whose Content-Type line it starts with)."""
    lines = [
        f"From: {sender}",
        "To: support@example.jp",
        f"Subject: {Header(subject, charset).encode()}",
        "Date: Tue, 24 Nov 2026 10:30:00 +0900",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n").encode("ascii") + entity


def rfc2231(name: str, charset: str = "UTF-8") -> str:
    return f"{charset}''" + "".join(f"%{b:02X}" for b in name.encode(charset))


def encoded_word(name: str) -> str:
    return "=?UTF-8?B?" + base64.b64encode(name.encode()).decode() + "?="


PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(200))


def mixed_charsets() -> bytes:
    """Text, an attachment, more text: four inline text parts in four charsets (R28)."""
    parts = [
        text_part("お世話になっております。\n" + COMPANY_AND_NAME, "utf-8", "base64"),
        part(
            'application/pdf; name="invoice.pdf"',
            PDF,
            encoding="base64",
            disposition=f"attachment; filename*={rfc2231('請求書①.pdf')}",
        ),
        text_part("二番目のパートです。\n" + DOMAIN_AND_NUMBER, "iso-2022-jp", "7bit"),
        part(
            "text/plain; charset=utf-16",
            crlf("三番目：UTF-16 の本文です。\n").encode("utf-16"),
            encoding="base64",
        ),
        part("image/png", PNG, encoding="base64", disposition='inline; filename="logo.png"'),
        text_part("四番目：EUC-JP で終わります。\n", "euc-jp", "8bit"),
    ]
    return message(multipart("mixed", parts, "=_mixed_charsets"), subject="設定について")


def alternative_with_related() -> bytes:
    """Apple Mail: plain, or HTML with its inline image; then a Word file."""
    html = "<html><body><p>設定について質問です。</p><img src='cid:logo'></body></html>"
    related = multipart(
        "related",
        [
            part("text/html; charset=utf-8", html.encode(), encoding="quoted-printable"),
            part("image/png", PNG, encoding="base64", headers=("Content-ID: <logo>",)),
        ],
        "=_related",
    )
    alternative = multipart(
        "alternative",
        [text_part("設定について質問です。\n" + FIELDS, "utf-8", "quoted-printable"), related],
        "=_alternative",
    )
    doc = part(
        "application/msword",
        b"\xd0\xcf\x11\xe0" + bytes(300),
        encoding="base64",
        disposition=f'attachment; filename="{encoded_word("手順書.doc")}"',
    )
    return message(multipart("mixed", [alternative, doc], "=_outer"), subject="Re: 設定")


def outlook_iso2022jp() -> bytes:
    """Outlook's ISO-2022-JP with NEC row 13 (①, ㈱) inside ESC $ B, a Shift_JIS CSV attached."""
    body = (
        b"\x1b$B-j\x1b(B"
        + "サンプル商事\r\n".encode("iso2022_jp")
        + b"\x1b$B-!\x1b(B"
        + " ライセンスキーの再発行をお願いします。\r\n".encode("iso2022_jp")
        + crlf(FIELDS).encode("iso2022_jp")
    )
    csv = part(
        f'text/csv; charset=shift_jis; name="{Header("集計.csv", "iso-2022-jp").encode()}"',
        "日付,件数\r\n2026/11/24,3\r\n".encode("cp932"),
        encoding="base64",
        disposition="attachment",
    )
    parts = [part("text/plain; charset=ISO-2022-JP", body, encoding="7bit"), csv]
    return message(multipart("mixed", parts, "----=_NextPart_000_0001"), charset="iso-2022-jp")


def shift_jis_plain() -> bytes:
    entity = text_part(FIELDS + "\n髙橋です。① 〜 ～ 設定できません。\n", "Shift_JIS", "8bit")
    return message(entity, subject="【至急】設定できません")


def euc_jp_html_only() -> bytes:
    html = "<table><tr><th>会社名</th><td>株式会社サンプル商事</td></tr></table><p>質問です</p>"
    return message(
        part("text/html; charset=EUC-JP", html.encode("euc_jp"), encoding="quoted-printable")
    )


def dsn() -> bytes:
    parts = [
        part("text/plain; charset=us-ascii", b"The message could not be delivered.\r\n"),
        part(
            "message/delivery-status",
            b"Reporting-MTA: dns; mx.example.jp\r\n\r\nFinal-Recipient: rfc822; a@b.jp\r\n"
            b"Action: failed\r\nStatus: 5.1.1\r\n",
            encoding="7bit",
        ),
        part(
            "text/rfc822-headers",
            b"Message-ID: <ours.1@example.jp>\r\nSubject: =?UTF-8?B?5Y+X5LuY?=\r\n",
            encoding="7bit",
        ),
    ]
    entity = multipart("report", parts, "=_dsn", params="; report-type=delivery-status")
    return message(entity, subject="Undelivered Mail", sender="MAILER-DAEMON@mx.example.jp")


def forwarded() -> bytes:
    inner = message(text_part("転送元の本文\n", "utf-8"), message_id="<inner@example.jp>")
    parts = [
        text_part("転送します。\n", "utf-8"),
        part("message/rfc822", inner, encoding="7bit", disposition="inline"),
    ]
    return message(multipart("mixed", parts, "=_fwd"), subject="Fwd: 問い合わせ")


SEEDS: dict[str, bytes] = {
    "mixed_charsets": mixed_charsets(),
    "alternative_with_related": alternative_with_related(),
    "outlook_iso2022jp": outlook_iso2022jp(),
    "shift_jis_plain": shift_jis_plain(),
    "euc_jp_html_only": euc_jp_html_only(),
    "dsn": dsn(),
    "forwarded": forwarded(),
}
