"""Body layout: new text, signature and quoted history (R1 field priority, R3 split scope)."""

from __future__ import annotations

from collections.abc import Callable

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
from tests.work import HANG_LIMIT, hang_detector, python_calls

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


# -- every text function: never raises, linear work, never hangs ------------------------------

_TOKENS = [
    "会社名", "社 名", "【", "】", "：", ":", "!", "'", "|", " ", "\u3000", "\t", "\n", "\r\n",
    ">", "＞", "━━━━", "----", "-- ", "1.", "１．", "①", "(1)", "（１）", "質問1", "Q1", "？",
    "ください", "C0123", "ー", "一", "example.co.jp", "@", "wrote:", "From: a", "Sent: b",
    "Subject: c", "2026年11月20日", "<a@b>:", "TEL: 03-1234-5678", "株式会社", "緊急", "エラー",
    "ライセンスキー", "(", ")", "※", "顧客番号", "ドメイン", "氏名", "Name", "\u2028", "\x00",
]  # fmt: skip


def _run_everything(text: str) -> None:
    """Every text function of mail intake on ``text``."""
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
    for call in calls:
        call()


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_r1_r3_r5_r6_r22_arbitrary_text_never_raises(text: str) -> None:
    _run_everything(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=300))
def test_r1_r3_r5_r6_r22_label_like_token_soup_never_raises(tokens: list[str]) -> None:
    _run_everything("".join(tokens))


ADVERSARIAL: dict[str, Callable[[int], str]] = {
    # Inputs of about ``size`` characters that make careless regexes backtrack or loops rescan.
    "label-repeated-one-line": lambda size: "会社名：" * (size // 4),
    "label-only-lines": lambda size: "会社名：\n" * (size // 5),
    "spaced-labels": lambda size: "会 社 名 " * (size // 6),
    "border-one-line": lambda size: "━" * size,
    "border-and-contact-lines": lambda size: "━━━━\nTEL: 03-1234-5678\n" * (size // 25),
    "quote-markers": lambda size: ">" * size,
    "spaces-then-text": lambda size: " " * size + "x",
    "tabs-then-label": lambda size: "\t" * size + "会社名",
    "decorations-then-label": lambda size: "■" * size + "会社名",
    "enumeration": lambda size: "".join(f"{i % 50 + 1}. できますか？\n" for i in range(size // 12)),
    "many-lists": lambda size: "1. a？\n2. b？\n\n" * (size // 14),
    "nested-lists": lambda size: "1. a？\n2. b？\n" + "  1. x？\n  2. y？\n" * (size // 18),
    "header-like": lambda size: "From: a\nDate: b\n" * (size // 16),
    "dates": lambda size: "2026年11月20日 10:00\n" * (size // 18),
    "open-parens": lambda size: "(" * size,
    "open-brackets": lambda size: "【" * size,
    "bracketed-questions": lambda size: "【質問1】" * (size // 7),
    "ocr-hyphens": lambda size: "顧客番号! " + "C0123ー" * (size // 6),
    "dots": lambda size: "ドメイン: " + "a." * (size // 2),
    "dash-separator": lambda size: "-" * size + "Original Message",
    "spaced-dash-separator": lambda size: "- " * (size // 2) + "Original Message",
    "notes": lambda size: "顧客番号：C1" + "(x)" * (size // 3),
    "nested-parens": lambda size: "顧客番号：C1" + "(" * (size // 2) + ")" * (size // 2),
    "inline-labels": lambda size: "氏名：" + " 会社名：" * (size // 5),
    "long-attribution": lambda size: "On " * (size // 3) + "wrote:",
    "digits": lambda size: "1" * size,
    "fullwidth-markers": lambda size: "１．" * (size // 2),
    "urgent": lambda size: "緊急ではない" * (size // 6),
}
# Speed is measured in bench/, never here. What is checked instead:
# - the work of the text functions, counted as calls of Python and C functions (deterministic),
#   at most doubles when the input doubles: a loop that rescans or nests over lines shows up as
#   four times the calls;
# - a backtracking regex does its work inside one call, where nothing can be counted: on inputs
#   of HANG_SIZE characters (about 0.5 s each today) a match that is quadratic or worse runs for
#   a minute or more, so a generous HANG_LIMIT detects it as a hang without being a speed limit.
WORK_SIZE = 10_000
HANG_SIZE = 400_000


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_adversarial_text_work_grows_linearly(name: str) -> None:
    text, twice = ADVERSARIAL[name](WORK_SIZE), ADVERSARIAL[name](2 * WORK_SIZE)
    small, large = (
        python_calls(lambda: _run_everything(text), c_calls=True),
        python_calls(lambda: _run_everything(twice), c_calls=True),
    )
    assert large <= 2 * small + 100, (
        f"{small:,} calls for {WORK_SIZE:,} characters, {large:,} for twice as many"
    )


class _Litter:
    """Garbage only the cycle collector frees, with a finalizer: what earlier tests leave."""

    def __del__(self) -> None:
        pass


def test_counted_work_leaves_out_what_earlier_tests_left_for_the_collector() -> None:
    """A collection during the count once added its finalizers' calls to the text functions'
    work, so the linear-growth check above failed by a few dozen calls depending on which tests
    the worker ran before (tests/work.py counts with the collector off)."""
    text = ADVERSARIAL["many-lists"](WORK_SIZE)
    clean = python_calls(lambda: _run_everything(text), c_calls=True)
    for _ in range(20_000):
        litter = _Litter()
        litter.me = litter  # type: ignore[attr-defined]
    del litter
    assert python_calls(lambda: _run_everything(text), c_calls=True) == clean


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_adversarial_400kb_never_hangs(name: str) -> None:
    text = ADVERSARIAL[name](HANG_SIZE)
    with hang_detector(HANG_LIMIT, f"the text functions on {name!r}"):
        _run_everything(text)
