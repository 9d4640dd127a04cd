"""compose(): the wire format of every automatic mail (R10, R27, R28).

The hand-written composer is checked against ``_reference_compose``, the stdlib-built (compat32
``MIMEText`` + ``Header``) implementation it replaced: parsed with the modern parser, both must
say the same thing, and that must be what the ``OutgoingMail`` says.
"""

from __future__ import annotations

import base64
import email
import email.policy
import re
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header, decode_header, make_header
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr, parseaddr

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intake.mail.loops import LOOP_HEADER
from responder.compose import OutgoingMail, compose

# --- the reference: the stdlib-based compose() this module replaced ----------------------------

_REFERENCE_WIRE = compat32.clone(linesep="\r\n")


def _reference_header(value: str, charset: str, name: str) -> str | Header:
    if value.isascii():
        return value
    return Header(value, charset, header_name=name)


def _reference_fits_iso2022jp(text: str) -> bool:
    try:
        text.encode("iso2022_jp")
    except UnicodeEncodeError:
        return False
    return True


def _reference_compose(mail: OutgoingMail) -> bytes:
    jis = mail.charset == "iso-2022-jp" and _reference_fits_iso2022jp(mail.body + mail.subject)
    if jis:
        message = MIMEText(mail.body, "plain", "iso-2022-jp")
    else:
        message = MIMEText(mail.body, "plain", "utf-8")
    header_charset = "iso-2022-jp" if jis else "utf-8"
    name = _reference_header(mail.sender_name, header_charset, "From")
    message["From"] = formataddr((name.encode() if isinstance(name, Header) else name, mail.sender))
    message["To"] = ", ".join(mail.to)
    message["Subject"] = _reference_header(mail.subject, header_charset, "Subject")
    message["Date"] = format_datetime(mail.date)
    message["Message-ID"] = mail.message_id
    if mail.in_reply_to:
        message["In-Reply-To"] = mail.in_reply_to
    references = list(dict.fromkeys([*mail.references, *filter(None, [mail.in_reply_to])]))
    if references:
        message["References"] = " ".join(references)
    if mail.automatic:
        message["Auto-Submitted"] = mail.automatic
        message["X-Auto-Response-Suppress"] = "All"
    message[LOOP_HEADER] = mail.profile or "uketsuke"
    return message.as_bytes(policy=_REFERENCE_WIRE)


# --- inputs ---------------------------------------------------------------------------------------

JST = timezone(timedelta(hours=9))
SUBJECT = "【受付】お問い合わせを受け付けました。受付番号 [UK-12345]"
PARAGRAPH = (
    "このたびはお問い合わせいただき、誠にありがとうございます。"
    "担当者が内容を確認のうえ、二営業日以内にご連絡いたします。"
)
BODY = f"山田 太郎 様\n\n{PARAGRAPH}\n{PARAGRAPH}\n\n\n受付番号: UK-12345\n-- \n株式会社サンプル\n"
LONG_SUBJECT = (
    "【重要】ご契約中のサービスにつきまして、システムメンテナンスに伴う一時停止のお知らせと、"
    "お問い合わせいただいた請求書再発行の件（受付番号 UK-12345）についてのご案内です。"
    "ご不明な点がございましたら、本メールにご返信いただくか、サポート窓口までお電話にて"
    "お問い合わせください。なお、営業時間外にいただいたお問い合わせにつきましては、"
    "翌営業日以降の対応となります。今後ともどうぞよろしくお願い申し上げます。"
)
assert len(LONG_SUBJECT) >= 200
LONG_NAME = "株式会社サンプル カスタマーサポートセンター 受付窓口"


def _mail(**changes: object) -> OutgoingMail:
    values: dict[str, object] = {
        "sender": "support@example.jp",
        "sender_name": "サポート窓口",
        "to": ["taro.yamada@example.com"],
        "subject": SUBJECT,
        "body": BODY,
        "message_id": "<uk.0123456789abcdef@example.jp>",
        "date": datetime(2024, 5, 1, 9, 30, tzinfo=JST),
        "in_reply_to": "<CAF1234567890abcdef@mail.example.com>",
        "references": ["<first.1234@mail.example.com>"],
        "profile": "acme",
    }
    values.update(changes)
    return OutgoingMail(**values)  # type: ignore[arg-type]


CASES: dict[str, dict[str, object]] = {
    "ascii": {
        "subject": "Your request [UK-1] was received",
        "sender_name": "Acme Support",
        "body": "Hello,\n\nthank you for your mail.\n",
    },
    "ascii-jis": {
        "subject": "Your request [UK-1]",
        "sender_name": "Acme",
        "body": "Hello\n",
        "charset": "iso-2022-jp",
    },
    "japanese": {},
    "japanese-jis": {"charset": "iso-2022-jp"},
    "long-japanese-subject": {"subject": LONG_SUBJECT},
    "long-japanese-subject-jis": {"subject": LONG_SUBJECT, "charset": "iso-2022-jp"},
    "long-mixed-subject-jis": {
        "subject": "Re: 見積書 ¥12,000 ‾ (税込) の件 " * 6,
        "charset": "iso-2022-jp",
    },
    "long-ascii-subject": {"subject": " ".join(["request"] * 30)},
    "emoji-subject": {"subject": "ご注文ありがとうございます🎉 [UK-7]"},
    "emoji-subject-jis-falls-back": {
        "subject": "ご注文ありがとうございます🎉 [UK-7]",
        "charset": "iso-2022-jp",
    },
    "outside-jis-body-falls-back": {"body": "①②③ ～ ｱｲｳ\n" + BODY, "charset": "iso-2022-jp"},
    "long-outside-jis-subject": {"subject": "①" + LONG_SUBJECT + "🎉", "charset": "iso-2022-jp"},
    "long-japanese-sender": {"sender_name": LONG_NAME},
    "long-japanese-sender-jis": {"sender_name": LONG_NAME, "charset": "iso-2022-jp"},
    "ascii-sender-with-specials": {"sender_name": 'Acme "Support", Inc.'},
    "no-sender-name": {"sender_name": ""},
    "no-references": {"references": [], "in_reply_to": None},
    "references-without-reply": {"in_reply_to": None},
    "long-references": {
        "references": [f"<msg{i}.{i * 7919}@mail{i}.example.com>" for i in range(12)]
    },
    "long-references-jis": {
        "references": [f"<msg{i}@mail.example.com>" for i in range(20)],
        "charset": "iso-2022-jp",
    },
    "several-recipients": {"to": [f"user{i}@example.com" for i in range(8)]},
    "staff-answer": {"automatic": None},
    "blank-lines-body-jis": {"body": "\n\n一行目\n\n\n三行目\n\n", "charset": "iso-2022-jp"},
    "empty-body": {"body": ""},
    "empty-body-jis": {"body": "", "charset": "iso-2022-jp"},
    "long-body": {"body": (PARAGRAPH + "\n") * 40},
    "long-body-jis": {"body": (PARAGRAPH + "\n") * 40, "charset": "iso-2022-jp"},
    "no-profile": {"profile": ""},
}


# --- reading the mail back ------------------------------------------------------------------------

_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def _display_name(data: bytes) -> str:
    """The From display name decoded per RFC 2047 (whitespace between adjacent encoded-words
    ignored; the modern parser keeps it inside address phrases)."""
    raw = email.message_from_bytes(data, policy=compat32)["From"]
    name, _ = parseaddr(re.sub(r"\r?\n(?=[ \t])", "", raw))
    return str(make_header(decode_header(name)))


def _decoded(data: bytes) -> dict[str, object]:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert not message.defects
    (sender,) = message["From"].addresses
    references = message["References"]
    body = message.get_content()
    if message["Content-Transfer-Encoding"] == "7bit":
        body = body.replace("\r\n", "\n")
    return {
        "from_name": _display_name(data),
        "from_address": sender.addr_spec,
        "to": [address.addr_spec for address in message["To"].addresses],
        "subject": str(message["Subject"]),
        "date": message["Date"].datetime,
        "message_id": message["Message-ID"],
        "in_reply_to": message["In-Reply-To"],
        "references": str(references).split() if references else None,
        "auto_submitted": message["Auto-Submitted"],
        "auto_response_suppress": message["X-Auto-Response-Suppress"],
        "loop": message[LOOP_HEADER],
        "mime_version": message["MIME-Version"],
        "content_type": message.get_content_type(),
        "charset": message.get_content_charset(),
        "transfer_encoding": message["Content-Transfer-Encoding"],
        "body": body,
    }


def _expected(mail: OutgoingMail) -> dict[str, object]:
    try:
        (mail.subject + mail.body).encode("iso2022_jp")
        jis = mail.charset == "iso-2022-jp"
    except UnicodeEncodeError:
        jis = False
    body = mail.body
    if jis:
        body = body.replace("\r\n", "\n").replace("\r", "\n")
        # a line over 998 bytes cannot go as 7bit: such a mail goes in UTF-8
        jis = all(len(line.encode("iso2022_jp")) <= 998 for line in body.split("\n"))
    if not jis:
        body = mail.body
    references = list(dict.fromkeys([*mail.references, *filter(None, [mail.in_reply_to])]))
    return {
        "from_name": mail.sender_name,
        "from_address": mail.sender,
        "to": mail.to,
        "subject": mail.subject,
        "date": mail.date,
        "message_id": mail.message_id,
        "in_reply_to": mail.in_reply_to,
        "references": references or None,
        "auto_submitted": mail.automatic,
        "auto_response_suppress": "All" if mail.automatic else None,
        "loop": mail.profile or "uketsuke",
        "mime_version": "1.0",
        "content_type": "text/plain",
        "charset": "iso-2022-jp" if jis else "utf-8",
        "transfer_encoding": "7bit" if jis else "base64",
        "body": body,
    }


def _assert_wire(data: bytes) -> None:
    """CRLF only, 7-bit, short lines, well-formed encoded-words (ISO-2022-JP ones whole)."""
    assert max(data, default=0) < 0x80
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    head, separator, body = data.partition(b"\r\n\r\n")
    assert separator
    for line in head.split(b"\r\n"):
        # longer only when it holds a single word that cannot be folded
        word = line.split(b": ", 1)[-1].strip()
        assert len(line) <= 78 or (len(line) <= 998 and b" " not in word), line
        assert line.strip(), "whitespace-only header line"
        assert line[:1] in b" \t" or re.match(rb"[!-9;-~]+: ", line) or line.endswith(b":"), line
        for word in _ENCODED_WORD.finditer(line):
            assert len(word.group()) <= 75, word.group()
            charset, encoding, text = word.groups()
            assert encoding == b"b"
            decoded = base64.b64decode(text, validate=True)
            if charset == b"iso-2022-jp":
                decoded.decode("iso2022_jp")  # on its own
                escapes = re.findall(rb"\x1b[$(][@-Z]", decoded)
                assert not escapes or escapes[-1] == b"\x1b(B", decoded  # ends in ASCII
            else:
                assert charset == b"utf-8"
                decoded.decode("utf-8")  # whole characters
    lines = body.split(b"\r\n")
    assert all(len(line) <= 998 for line in lines)
    if b"Content-Transfer-Encoding: base64" in head:
        assert all(len(line) <= 76 for line in lines)


# --- tests ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes", CASES.values(), ids=CASES.keys())
def test_compose_says_what_the_mail_says(changes: dict[str, object]) -> None:
    mail = _mail(**changes)
    data = compose(mail)
    _assert_wire(data)
    assert _decoded(data) == _expected(mail)
    if not mail.body or mail.body.endswith("\n"):
        assert data.endswith(b"\r\n")


@pytest.mark.parametrize("changes", CASES.values(), ids=CASES.keys())
def test_compose_matches_the_stdlib_reference(changes: dict[str, object]) -> None:
    mail = _mail(**changes)
    assert _decoded(compose(mail)) == _decoded(_reference_compose(mail))


def test_short_display_names_read_back_with_the_modern_parser() -> None:
    for charset in ("utf-8", "iso-2022-jp"):
        data = compose(_mail(sender_name="サポート窓口", charset=charset))
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert message["From"].addresses[0].display_name == "サポート窓口"


def test_a_typical_acknowledgment_on_the_wire() -> None:
    data = compose(_mail(references=["<a@x>", "<b@y>"], in_reply_to="<b@y>"))
    head = data.partition(b"\r\n\r\n")[0].decode("ascii").split("\r\n")
    assert head[:3] == [
        'Content-Type: text/plain; charset="utf-8"',
        "MIME-Version: 1.0",
        "Content-Transfer-Encoding: base64",
    ]
    assert "From: =?utf-8?b?44K144Od44O844OI56qT5Y+j?= <support@example.jp>" in head
    assert "Date: Wed, 01 May 2024 09:30:00 +0900" in head
    assert "References: <a@x> <b@y>" in head
    assert "Auto-Submitted: auto-replied" in head
    assert f"{LOOP_HEADER}: acme" in head


def test_iso2022jp_words_hold_whole_characters_and_return_to_ascii() -> None:
    subject = "見積書¥12,000‾の件について" * 10
    data = compose(_mail(subject=subject, charset="iso-2022-jp"))
    _assert_wire(data)
    words = _ENCODED_WORD.findall(data.partition(b"\r\n\r\n")[0])
    pieces = [base64.b64decode(text).decode("iso2022_jp") for _, _, text in words[1:]]
    assert "".join(pieces) == subject  # words[0] is the From display name
    assert len(pieces) > 5


def test_a_sender_name_outside_jis_is_encoded_in_utf8() -> None:
    """The reference raised UnicodeEncodeError here (the mail itself was ISO-2022-JP)."""
    mail = _mail(sender_name="①サポート", charset="iso-2022-jp")
    with pytest.raises(UnicodeEncodeError):
        _reference_compose(mail)
    data = compose(mail)
    _assert_wire(data)
    assert _decoded(data) == _expected(mail)
    assert b"From: =?utf-8?b?" in data
    assert b'charset="iso-2022-jp"' in data


def test_a_7bit_line_over_998_bytes_goes_in_utf8() -> None:
    """The reference wrote such a line as is; relays cut it (garbling the JIS text)."""
    mail = _mail(body=PARAGRAPH * 10 + "\n", charset="iso-2022-jp")
    reference_lines = _reference_compose(mail).split(b"\r\n")
    assert max(map(len, reference_lines)) > 998
    data = compose(mail)
    _assert_wire(data)
    assert _decoded(data) == {**_expected(mail), "charset": "utf-8", "transfer_encoding": "base64"}


def test_line_breaks_in_header_values_do_not_end_the_header() -> None:
    mail = _mail(subject="受付\r\nBcc: victim@example.com", sender_name="Acme\nX-Evil: 1")
    data = compose(mail)
    _assert_wire(data)
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["Bcc"] is None
    assert message["X-Evil"] is None
    assert str(message["Subject"]) == "受付 Bcc: victim@example.com"


def test_ascii_text_that_looks_like_an_encoded_word_is_encoded() -> None:
    """The reference wrote it as is, so readers decoded it into something else."""
    mail = _mail(subject="=?utf-8?b?44GC?= literally", sender_name="=?utf-8?q?x?=")
    data = compose(mail)
    _assert_wire(data)
    assert _decoded(data)["subject"] == "=?utf-8?b?44GC?= literally"
    assert _display_name(data) == "=?utf-8?q?x?="


JAPANESE = (
    "ぁあいうえおかがきぎくぐけこさしすせそたちつてとなにぬねのはばぱまみむめもやゆよらりるれろわをん"
    "ァアイウエオカガキクケコサシスセソタチツテトナニヌネノハバパマミムメモヤユヨラリルレロワヲンヴー"
    "受付番号担当者連絡問合確認日本語漢字株式会社様御中請求書見積納品営業日時間年月円税込"
    "、。・「」『』【】（）！？〜＃％＆＠：；"
)
ASCII = "".join(map(chr, range(0x20, 0x7F)))
subjects = (
    st.text(alphabet=JAPANESE + ASCII + "¥‾", max_size=120)
    .map(str.strip)
    .filter(lambda subject: "=?" not in subject)  # encoded on purpose, unlike the reference
)
bodies = st.text(alphabet=JAPANESE + ASCII + "¥‾\n", max_size=600)
names = st.text(alphabet=JAPANESE + " ACMEacme-", max_size=40).map(str.strip)


@settings(max_examples=200, deadline=None)
@given(
    subject=subjects,
    body=bodies,
    name=names,
    charset=st.sampled_from(["utf-8", "iso-2022-jp"]),
)
def test_random_japanese_text_round_trips(subject: str, body: str, name: str, charset: str) -> None:
    mail = _mail(subject=subject, body=body, sender_name=name, charset=charset)
    data = compose(mail)
    _assert_wire(data)
    decoded = _decoded(data)
    assert decoded == _expected(mail)
    reference = _decoded(_reference_compose(mail))
    assert decoded["subject"] == reference["subject"]
    assert decoded["from_name"] == reference["from_name"]
    assert decoded["body"] == reference["body"]


def test_control_characters_never_reach_an_outgoing_mail() -> None:
    mail = OutgoingMail(
        sender="support@example.jp",
        sender_name="サポート\x00",
        to=["yamada@example.co.jp"],
        subject="[#1] 受付\x00のお知らせ\r\nBcc: x@evil.example",
        body="本文\x00です。\x1b\n以上\n",
        message_id="<a@example.jp>",
        date=datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
    )
    message = email.message_from_bytes(compose(mail), policy=email.policy.default)
    assert message["Subject"] == "[#1] 受付のお知らせ Bcc: x@evil.example"
    assert message["Bcc"] is None
    assert message.get_content() == "本文です。\n以上\n"
