"""Body layout: new text, signature and quoted history (R1 field priority, R3 split scope)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intake.mail.classify import categorize, has_japanese, is_urgent
from intake.mail.fields import (
    extract_fields,
    normalize_customer_number,
    normalize_domain,
    normalize_text,
)
from intake.mail.layout import BodyLayout, analyse_layout, is_border_line
from intake.mail.split import split_inquiries

OUTLOOK_JA = """\
サポートセンター ご担当者様

いつもお世話になっております。
株式会社サンプルの山田です。

先日の件、追加で確認させてください。
CSV出力の文字コードは選べますか？

よろしくお願いいたします。

━━━━━━━━━━━━━━━━━━━━━━
株式会社サンプル 情報システム部
山田 太郎
TEL: 03-1234-5678 / FAX: 03-1234-5679
Mail: t.yamada@example.co.jp
━━━━━━━━━━━━━━━━━━━━━━

-----Original Message-----
From: サポートセンター <support@uketsuke.example>
Sent: Friday, November 20, 2026 10:00 AM
To: 山田 太郎 <t.yamada@example.co.jp>
Subject: RE: CSV出力について

山田様

お問い合わせありがとうございます。
"""

OUTLOOK_HEADER_BLOCK_JA = """\
お世話になっております。
回答ありがとうございました。解決しました。

________________________________
差出人: サポートセンター <support@uketsuke.example>
送信日時: 2026年11月20日 10:00
宛先: 山田 太郎 <t.yamada@example.co.jp>
件名: RE: ログインについて

山田様
"""

GMAIL_JA = """\
お世話になっております。
ご回答ありがとうございます。再度試しましたが、まだログインできません。

2026年11月20日(金) 10:00 サポートセンター <support@uketsuke.example>:
>
> 山田様
>
> ブラウザのキャッシュを削除してお試しください。
"""

GMAIL_JA_WRAPPED = """\
了解しました。

2026年11月20日(金) 10:00 サポートセンター 受付担当 <
support@uketsuke.example>:

> 山田様
"""

GMAIL_EN = """\
Thanks, that fixed it.

On Fri, Nov 20, 2026 at 10:00 AM Support Desk <support@uketsuke.example> wrote:

> Dear Mr Yamada,
"""

IPHONE_REPLY = """\
承知しました。明日試してみます。

iPhoneから送信

2026/11/20 10:00、サポートセンター <support@uketsuke.example>のメール:

> 山田様
"""

IPHONE_FORWARD = """\
下記のエラーについてご確認ください。

転送されたメッセージ:

送信元: システム通知 <noreply@example.co.jp>
日付: 2026年11月20日 10:00:00 JST
宛先: t.yamada@example.co.jp
件名: バックアップ失敗
"""

THUNDERBIRD_JA = """\
手順書を確認しました。

2026/11/20 10:00 サポートセンター さんは書きました:
> 山田様
"""

FULLWIDTH_QUOTE = """\
ありがとうございます。

＞山田様
＞ご確認ください。
"""

DASH_DASH_SPACE = "ログインできません。\n\n-- \n山田 太郎\nt.yamada@example.co.jp\n"

STARS_SIGNATURE = """\
よろしくお願いします。
☆★☆★☆★☆★☆★☆★
有限会社テスト 鈴木 花子
〒100-0001 東京都千代田区1-1
☆★☆★☆★☆★☆★☆★
"""

FIELDS_BLOCK_THEN_QUESTION = """\
━━━━━━━━━━━━━━
会社名：株式会社サンプル
氏名：山田 太郎
━━━━━━━━━━━━━━
ログイン画面が表示されません。原因を教えていただけますか？
"""

FAX_COVER = """\
FAX送信票
FROM: 株式会社サンプル
DATE: 2026/11/20
社名: 株式会社サンプル
お問い合わせ内容
ログインできません。
"""


@pytest.mark.parametrize(
    ("body", "quoted", "signature"),
    [
        pytest.param(OUTLOOK_JA, 17, 10, id="outlook-original-message"),
        pytest.param(OUTLOOK_HEADER_BLOCK_JA, 3, None, id="outlook-header-block-underscores"),
        pytest.param(GMAIL_JA, 3, None, id="gmail-ja-attribution"),
        pytest.param(GMAIL_JA_WRAPPED, 2, None, id="gmail-ja-wrapped-attribution"),
        pytest.param(GMAIL_EN, 2, None, id="gmail-en-on-wrote"),
        pytest.param(IPHONE_REPLY, 4, 2, id="iphone-reply-mobile-footer"),
        pytest.param(IPHONE_FORWARD, 2, None, id="iphone-forward"),
        pytest.param(THUNDERBIRD_JA, 2, None, id="thunderbird-kakimashita"),
        pytest.param(FULLWIDTH_QUOTE, 2, None, id="fullwidth-quote-run"),
        pytest.param(DASH_DASH_SPACE, None, 2, id="dash-dash-space"),
        pytest.param(STARS_SIGNATURE, None, 1, id="stars-border"),
        pytest.param(FIELDS_BLOCK_THEN_QUESTION, None, None, id="bordered-fields-not-signature"),
        pytest.param(FAX_COVER, None, None, id="fax-cover-from-date-not-history"),
        pytest.param("ログインできません。", None, None, id="plain"),
        pytest.param("", None, None, id="empty"),
    ],
)
def test_r1_r3_layout_boundaries(body: str, quoted: int | None, signature: int | None) -> None:
    layout = analyse_layout(body)
    assert (layout.quoted_from_line, layout.signature_from_line) == (quoted, signature)


def test_r1_r3_layout_parts_rebuild_the_text() -> None:
    layout = analyse_layout(OUTLOOK_JA)
    assert layout.text == OUTLOOK_JA
    assert layout.new_text.rstrip().endswith("よろしくお願いいたします。")
    assert layout.signature_text.splitlines()[1] == "株式会社サンプル 情報システム部"
    assert layout.quoted_text.startswith("-----Original Message-----")
    rebuilt = "\n".join([layout.new_text, layout.signature_text, layout.quoted_text])
    assert rebuilt == OUTLOOK_JA


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["crlf", "lone-cr"])
def test_r1_r3_layout_line_numbers_do_not_depend_on_newlines(newline: str) -> None:
    body = OUTLOOK_JA.replace("\n", newline)
    layout = analyse_layout(body)
    lf = analyse_layout(OUTLOOK_JA)
    assert (layout.quoted_from_line, layout.signature_from_line) == (
        lf.quoted_from_line,
        lf.signature_from_line,
    )
    assert newline.join([layout.new_text, layout.signature_text, layout.quoted_text]) == body
    assert layout.new_text == lf.new_text.replace("\n", newline)


def test_r1_r3_layout_without_boundaries_is_all_new_text() -> None:
    layout = analyse_layout("会社名：株式会社サンプル\n")
    assert layout.new_text == "会社名：株式会社サンプル\n"
    assert layout.signature_text == "" and layout.quoted_text == ""


def test_r1_long_text_after_a_border_is_not_a_signature() -> None:
    body = "前置き\n----------\n" + "".join(f"{i}行目の説明です\n" for i in range(30))
    body += "TEL: 03-1234-5678\n"
    assert analyse_layout(body).signature_from_line is None


def test_r1_signature_needs_a_contact_line_after_a_border() -> None:
    body = "本文です。\n==========\n補足です\n"
    assert analyse_layout(body).signature_from_line is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("━━━━━━━━", True),
        ("──────", True),
        ("＝＝＝＝", True),
        ("====", True),
        ("----", True),
        ("****", True),
        ("＿＿＿＿", True),
        ("☆★☆★", True),
        ("- - - -", True),
        ("---", False),
        ("--", False),
        ("━━ 株式会社 ━━", False),
        ("", False),
    ],
)
def test_r1_border_lines(line: str, expected: bool) -> None:
    assert is_border_line(line) is expected


def test_layout_is_a_value_object() -> None:
    layout = BodyLayout(text="a\nb\nc", quoted_from_line=2, signature_from_line=1)
    assert (layout.new_text, layout.signature_text, layout.quoted_text) == ("a", "b", "c")


# -- every text function: never raises, bounded time ------------------------------------------

_TOKENS = [
    "会社名", "社 名", "【", "】", "：", ":", "!", "'", "|", " ", "\u3000", "\t", "\n", "\r\n",
    ">", "＞", "━━━━", "----", "-- ", "1.", "１．", "①", "(1)", "（１）", "質問1", "Q1", "？",
    "ください", "C0123", "ー", "一", "example.co.jp", "@", "wrote:", "From: a", "Sent: b",
    "Subject: c", "2026年11月20日", "<a@b>:", "TEL: 03-1234-5678", "株式会社", "緊急", "エラー",
    "ライセンスキー", "(", ")", "※", "顧客番号", "ドメイン", "氏名", "Name", "\u2028", "\x00",
]  # fmt: skip


def _run_everything(text: str) -> float:
    """Every text function of mail intake on ``text``; the slowest call's seconds."""
    layout = analyse_layout(text)
    calls = [
        lambda: analyse_layout(text),
        lambda: (layout.new_text, layout.signature_text, layout.quoted_text),
        lambda: extract_fields(layout).missing(),
        lambda: split_inquiries(layout.new_text),
        lambda: split_inquiries(text),
        lambda: categorize(text),
        lambda: is_urgent(text, text),
        lambda: has_japanese(text),
        lambda: normalize_customer_number(text),
        lambda: normalize_domain(text),
        lambda: normalize_text(text),
    ]
    slowest = 0.0
    for call in calls:
        started = time.perf_counter()
        call()
        slowest = max(slowest, time.perf_counter() - started)
    return slowest


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_r1_r3_r5_r6_r22_arbitrary_text_never_raises(text: str) -> None:
    _run_everything(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=300))
def test_r1_r3_r5_r6_r22_label_like_token_soup_never_raises(tokens: list[str]) -> None:
    _run_everything("".join(tokens))


SIZE = 100_000

ADVERSARIAL = {
    "label-repeated-one-line": "会社名：" * (SIZE // 4),
    "label-only-lines": "会社名：\n" * (SIZE // 5),
    "spaced-labels": "会 社 名 " * (SIZE // 6),
    "border-one-line": "━" * SIZE,
    "border-and-contact-lines": "━━━━\nTEL: 03-1234-5678\n" * (SIZE // 25),
    "quote-markers": ">" * SIZE,
    "spaces-then-text": " " * SIZE + "x",
    "tabs-then-label": "\t" * SIZE + "会社名",
    "decorations-then-label": "■" * SIZE + "会社名",
    "enumeration": "".join(f"{i % 50 + 1}. できますか？\n" for i in range(SIZE // 12)),
    "many-lists": "1. a？\n2. b？\n\n" * (SIZE // 14),
    "nested-lists": "1. a？\n2. b？\n" + "  1. x？\n  2. y？\n" * (SIZE // 18),
    "header-like": "From: a\nDate: b\n" * (SIZE // 16),
    "dates": "2026年11月20日 10:00\n" * (SIZE // 18),
    "open-parens": "(" * SIZE,
    "open-brackets": "【" * SIZE,
    "bracketed-questions": "【質問1】" * (SIZE // 7),
    "ocr-hyphens": "顧客番号! " + "C0123ー" * (SIZE // 6),
    "dots": "ドメイン: " + "a." * (SIZE // 2),
    "dash-separator": "-" * SIZE + "Original Message",
    "spaced-dash-separator": "- " * (SIZE // 2) + "Original Message",
    "notes": "顧客番号：C1" + "(x)" * (SIZE // 3),
    "nested-parens": "顧客番号：C1" + "(" * (SIZE // 2) + ")" * (SIZE // 2),
    "inline-labels": "氏名：" + " 会社名：" * (SIZE // 5),
    "long-attribution": "On " * (SIZE // 3) + "wrote:",
    "digits": "1" * SIZE,
    "fullwidth-markers": "１．" * (SIZE // 2),
    "urgent": "緊急ではない" * (SIZE // 6),
}


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_adversarial_100kb_runs_in_bounded_time(text: str) -> None:
    assert _run_everything(text) < 1.0


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=20), st.integers(500, 5000))
def test_repeated_junk_stays_fast(tokens: list[str], repeat: int) -> None:
    text = ("".join(tokens) * repeat)[:SIZE]
    assert _run_everything(text) < 1.0


def test_r1_signature_with_confidentiality_notice() -> None:
    body = """\
ライセンスの更新について教えてください。

-----------------------------------------
株式会社サンプル 山田 太郎
TEL: 03-1234-5678
本メールは機密情報を含む場合があります。誤って受信された場合は、
お手数ですが削除をお願いいたします。
-----------------------------------------
"""
    assert analyse_layout(body).signature_from_line == 2
