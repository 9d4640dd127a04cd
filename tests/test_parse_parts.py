"""What a message holds reaches ``uketsuke parse``: every inline text part in ``body``, each in
its own charset (R28), everything else in ``attachments`` (R29); file names and every other text
field valid text without control characters (R29), whatever the MIME parameters say."""

from __future__ import annotations

import re

import pytest

from intake.mail.mime import parse_tree
from intake.mail.parse import parse_message, safe_filename
from tests.parsefuzz_messages import (
    COMPANY_AND_NAME,
    DOMAIN_AND_NUMBER,
    PDF,
    PNG,
    SEEDS,
    crlf,
    encoded_word,
    message,
    multipart,
    part,
    rfc2231,
    text_part,
)

# -- every text part, nothing lost ------------------------------------------------------------


def test_r28_inline_text_parts_around_attachments_all_reach_the_body_in_order() -> None:
    """Text, an attachment, more text (Apple Mail, mobile mailers): four charsets in one mail."""
    first = "お世話になっております。\n" + COMPANY_AND_NAME + "\n質問が2点あります。\n"
    parts = [
        text_part(first, "utf-8"),
        part(
            'application/pdf; name="invoice.pdf"',
            PDF,
            encoding="base64",
            disposition=f"attachment; filename*={rfc2231('請求書①.pdf')}",
        ),
        text_part(DOMAIN_AND_NUMBER, "iso-2022-jp", "7bit"),
        part(
            "text/plain; charset=utf-16",
            crlf("1. ライセンスキーの再発行をお願いできますか？\n").encode("utf-16"),
            encoding="base64",
        ),
        part("image/png", PNG, encoding="base64", disposition='inline; filename="logo.png"'),
        text_part("2. 他社製品のサーバー構築について相談できますか？\n", "euc-jp", "base64"),
    ]
    parsed = parse_message(message(multipart("mixed", parts, "=_b")))
    assert parsed.body == (
        first + "\n" + DOMAIN_AND_NUMBER + "\n1. ライセンスキーの再発行をお願いできますか？\n"
        "\n2. 他社製品のサーバー構築について相談できますか？\n"
    )
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("請求書①.pdf", "application/pdf"),
        ("logo.png", "image/png"),
    ]
    assert parsed.defects == []
    assert parsed.missing == [] and parsed.fields["customer_number"] == "C0123-4567"
    assert [i.category for i in parsed.inquiries] == ["license", "out_of_scope"]


def test_r28_one_alternative_is_read_and_what_the_others_hold_is_listed() -> None:
    parsed = parse_message(SEEDS["alternative_with_related"])
    assert parsed.body.startswith("設定について質問です。\n") and parsed.body.count("質問です") == 1
    assert parsed.missing == []
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        (None, "image/png"),  # the HTML alternative's inline image
        ("手順書.doc", "application/msword"),
    ]
    invite = multipart(
        "alternative",
        [
            part("text/html; charset=utf-8", "<p>会議の<b>ご案内</b></p>".encode()),
            part("text/calendar; method=REQUEST; charset=utf-8", b"BEGIN:VCALENDAR\r\n"),
        ],
        "=_alt",
    )
    parsed = parse_message(message(invite))
    assert parsed.body == "会議のご案内\n"
    assert [a.content_type for a in parsed.attachments] == ["text/calendar"]
    empty_plain = multipart(
        "alternative",
        [
            part("text/plain; charset=utf-8", b"\r\n \r\n"),
            part("text/html; charset=utf-8", "<p>HTML の本文</p>".encode()),
        ],
        "=_alt",
    )
    assert parse_message(message(empty_plain)).body == "HTML の本文\n"


def test_r29_nothing_of_a_message_disappears() -> None:
    empty_plain_then_html = multipart(
        "mixed",
        [
            part("text/plain; charset=us-ascii", b""),
            part("text/html; charset=utf-8", "<p>HTML だけの本文</p>".encode()),
            part("text/plain; charset=utf-8", b"log\r\n", disposition="attachment"),
        ],
        "=_m",
    )
    parsed = parse_message(message(empty_plain_then_html))
    assert parsed.body == "HTML だけの本文\n"
    assert [a.content_type for a in parsed.attachments] == ["text/plain"]
    parsed = parse_message(SEEDS["dsn"])  # the returned headers are listed, not dropped
    assert [a.content_type for a in parsed.attachments] == [
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    no_boundary = message(b"Content-Type: multipart/mixed\r\n\r\n\xe6\x9c\xac\xe6\x96\x87\r\n")
    parsed = parse_message(no_boundary)
    assert parsed.body == "本文\n" and "NoBoundaryInMultipartDefect" in parsed.defects


def test_r29_digest_parts_are_messages_listed_not_read() -> None:
    """RFC 2046 5.1.5: a digest's parts without Content-Type are messages (attachments)."""
    entry = b"From: a@example.jp\r\nSubject: one\r\n\r\nfirst entry\r\n"
    digest = multipart("digest", [b"\r\n" + entry, b"\r\n" + entry], "=_d")
    entity = multipart("mixed", [text_part("目次\n", "utf-8"), digest], "=_m")
    parsed = parse_message(message(entity))
    assert parsed.body == "目次\n"
    assert [a.content_type for a in parsed.attachments] == ["message/rfc822"] * 2


# -- file names and control characters: valid text, never an exception -------------------------


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []


@pytest.mark.parametrize(
    "disposition",
    [
        "attachment; filename*=utf-7''%2B2AA-.pdf",  # decodes to U+D800
        "attachment; filename*=unicode-escape''%5Cud800.pdf",
        "attachment; filename*=utf-8''%ED%A0%80.pdf",  # UTF-8 of a surrogate
        "attachment; filename*=idna''x.pdf",  # the stdlib raises UnicodeError
        "attachment; filename*=undefined''x.pdf",
        "attachment; filename*=x.pdf; filename*0=y.pdf",  # the stdlib raises TypeError
        'attachment; filename="\udced\udca0\udc80.pdf"',  # raw 8-bit bytes
    ],
)
def test_r29_rfc2231_file_names_decoding_to_surrogates_are_valid_text(disposition: str) -> None:
    attachment = part("application/pdf", PDF, encoding="base64", disposition=disposition)
    raw = message(multipart("mixed", [text_part("本文\n", "utf-8"), attachment], "=_f"))
    parsed = parse_message(raw)
    [info] = parsed.attachments
    assert info.filename is not None and info.filename.endswith(".pdf")
    info.filename.encode("utf-8")
    for tree_part in parse_tree(raw).walk():
        name = safe_filename(tree_part)
        assert name is None or name.encode("utf-8")
        assert tree_part.headers.get_filename() == name  # fax.py's call is safe too


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/mixed; boundary*=idna''=_f",
        "multipart/mixed; boundary*=x; boundary*0=y",
        "multipart/mixed; boundary*=utf-7''+2AA-",
        "text/plain; charset*=idna''x",
        "text/plain; charset*=x; charset*0=y",
        "text/plain; charset=utf-7",
    ],
)
def test_r29_broken_mime_parameters_never_raise(content_type: str) -> None:
    raw = (
        f"From: a@example.co.jp\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}\r\n\r\n--=_f\r\nContent-Type: text/plain\r\n\r\n"
        "+2AA- text\r\n--=_f--\r\n"
    ).encode()
    data = parse_message(raw).to_json()
    assert "text" in data["body"]
    for text in _strings(data):
        text.encode("utf-8")


CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def test_r29_control_characters_never_reach_parsed_text() -> None:
    """PostgreSQL refuses NUL in text columns: no control character but tab, CR and LF."""
    body = "本文\x00に\x08制御\x1f文字\x0c\x0b\tタブ\n顧客番号：C0123-\x004567\n1. 質問\x07です\n"
    word, name = encoded_word("請求\x00書.pdf"), encoded_word("山田\x01太郎")
    attachment = part(
        f'application/pdf; name="{word}"',
        PDF,
        encoding="base64",
        disposition="attachment; filename*=UTF-8''%00%E8%AB%8B%E6%B1%82%07%1B.pdf",
    )
    entity = multipart("mixed", [text_part(body, "utf-8", "base64"), attachment], "=_c")
    raw = message(
        entity,
        subject="件名\x00\x1bテスト",
        sender=f"{name} <ya\x7fmada@example.co.jp>",
        message_id="<id\x03.1@example.jp>",
        extra=("In-Reply-To: <re\x00ply@example.jp>", "Auto-Submitted: auto-\x00replied"),
    ).replace(b"To: support@", b"To: sup\x02port@")
    parsed = parse_message(raw)
    assert parsed.subject == "件名テスト"
    assert parsed.body.startswith("本文に制御文字\tタブ\n")
    assert parsed.sender == {"name": "山田太郎", "address": "yamada@example.co.jp"}
    assert parsed.to == ["support@example.jp"]
    assert (parsed.message_id, parsed.in_reply_to) == ("<id.1@example.jp>", "<reply@example.jp>")
    assert parsed.auto_reason == "auto-submitted: auto-replied"
    assert [a.filename for a in parsed.attachments] == ["請求.pdf"]
    plain = parse_message(raw.replace(b"Auto-Submitted", b"X-Note"))
    assert plain.fields["customer_number"] == "C0123-4567"
    assert plain.inquiries and not CONTROLS.search(plain.inquiries[0].text)
    for data in (parsed.to_json(), plain.to_json()):
        leftovers = [text for text in _strings(data) if CONTROLS.search(text)]
        assert leftovers == []
