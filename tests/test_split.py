"""One incident per indivisible inquiry (R3): which enumerations split, and into what."""

from __future__ import annotations

import pytest

from intake.mail.layout import analyse_layout
from intake.mail.split import is_inquiry, split_inquiries

TWO_QUESTIONS = """\
いつもお世話になっております。
株式会社サンプルの山田です。

以下2点質問があります。

{first}ライセンスを別のサーバーへ移行することは可能でしょうか？
{second}CSVで出力したファイルの文字コードを教えてください。

以上、よろしくお願いいたします。
"""

STYLES = [
    ("1. ", "2. "),
    ("1.", "2."),
    ("1) ", "2) "),
    ("１．", "２．"),
    ("1、", "2、"),
    ("①", "②"),
    ("❶", "❷"),
    ("⑴", "⑵"),
    ("(1) ", "(2) "),
    ("（１）", "（２）"),
    ("問1 ", "問2 "),
    ("質問1：", "質問2："),
    ("Q1 ", "Q2 "),
    ("Q1. ", "Q2. "),
    ("Ｑ１．", "Ｑ２．"),
    ("【お問い合わせ1】", "【お問い合わせ2】"),
    ("【質問１】", "【質問２】"),
    ("[質問1] ", "[質問2] "),
    ("■質問1 ", "■質問2 "),
    ("  1. ", "  2. "),
]


@pytest.mark.parametrize(("first", "second"), STYLES, ids=[s[0].strip() for s in STYLES])
def test_r3_each_enumeration_style_splits(first: str, second: str) -> None:
    body = TWO_QUESTIONS.format(first=first, second=second)
    assert split_inquiries(body) == [
        f"{first}ライセンスを別のサーバーへ移行することは可能でしょうか？".strip(),
        f"{second}CSVで出力したファイルの文字コードを教えてください。".strip(),
    ]


def test_r3_three_items_with_continuation_lines() -> None:
    body = """\
お世話になっております。
3点ご相談させてください。

【質問1】
メール通知が届きません。
迷惑メールフォルダも確認済みです。原因を調べていただけますか。

【質問2】
ユーザーを一括登録する方法はありますか？

【質問3】
年間サポートの契約期間を教えてください。

よろしくお願いいたします。
"""
    assert split_inquiries(body) == [
        "【質問1】\nメール通知が届きません。\n迷惑メールフォルダも確認済みです。原因を調べていただけますか。",
        "【質問2】\nユーザーを一括登録する方法はありますか？",
        "【質問3】\n年間サポートの契約期間を教えてください。",
    ]


STEPS = """\
お世話になっております。
以下の手順で操作するとエラーになります。

1. 管理画面にログインする
2. 設定メニューから「通知」を開く
3. 「保存」ボタンを押す

回避方法を教えてください。
"""

REPRO_STEPS_ASKING = """\
再現手順
1. ログイン画面を開く
2. パスワードを入力して「ログイン」を押す
3. 「ログインできません」と表示されますか？ → はい
"""

SYMPTOMS = """\
昨日から次の現象が起きています。
① 画面が真っ白になる
② ログアウトされる
③ メールが届かない
至急確認をお願いします。
"""

ERROR_LIST = """\
【エラー内容】
(1) 500 Internal Server Error
(2) タイムアウトしました
対処方法はありますか？
"""

ENVIRONMENT = """\
ログインできない件について、環境は以下の通りです。
1. OS: Windows 11
2. ブラウザ: Microsoft Edge
3. バージョン: 3.2.1
原因を調べていただけますか？
"""

STATEMENTS = """\
ご連絡事項です。
1. 来月から担当者が変わります。
2. 請求書の送付先も変わります。
"""

NOT_FROM_ONE = "2. 料金を教えてください。\n3. 納期を教えてください。"
GAP = "1. 料金を教えてください。\n3. 納期を教えてください。"
ONE_ITEM = "1. 料金を教えてください。\nよろしくお願いします。"
VERSIONS = "バージョン1.2から1.3に上げたら動きません。\n1.3.1で直りますか？"
DATES = "2026.11.20 にエラーが出ました。\n11.21 にも出ました。原因を教えてください。"

QUOTED_ENUMERATION = """\
承知しました。ありがとうございます。
> 1. ライセンスの移行は可能でしょうか？
> 2. バックアップの方法を教えてください。
"""


@pytest.mark.parametrize(
    "body",
    [STEPS, REPRO_STEPS_ASKING, SYMPTOMS, ERROR_LIST, ENVIRONMENT, STATEMENTS, NOT_FROM_ONE, GAP,
     ONE_ITEM, VERSIONS, DATES, QUOTED_ENUMERATION],
    ids=["steps", "repro-steps-heading", "symptoms", "error-list", "environment", "statements",
         "not-from-one", "gap-in-numbering", "one-item", "versions", "dates", "quoted"],
)  # fmt: skip
def test_r3_not_split(body: str) -> None:
    assert split_inquiries(body) == [body.strip()]


def test_r3_questions_split_environment_list_does_not() -> None:
    body = """\
お世話になっております。
以下について質問です。

1. 複数の端末から同時にログインできますか？
2. パスワードの有効期限を変更する方法を教えてください。

【環境】
1. OS: Windows 11
2. ブラウザ: Google Chrome 130

よろしくお願いいたします。
"""
    assert split_inquiries(body) == [
        "1. 複数の端末から同時にログインできますか？",
        "2. パスワードの有効期限を変更する方法を教えてください。",
    ]


def test_r3_environment_list_first_then_questions() -> None:
    body = """\
動作環境
1. OS: macOS 15
2. ブラウザ: Safari 18

質問
1. ファイルのアップロード上限はありますか？
2. 上限を変更することは可能でしょうか？
"""
    assert split_inquiries(body) == [
        "1. ファイルのアップロード上限はありますか？",
        "2. 上限を変更することは可能でしょうか？",
    ]


def test_r3_nested_steps_stay_with_their_question() -> None:
    body = """\
1. 次の手順でエラーになります。回避方法を教えてください。
  (1) ログインする
  (2) 設定画面を開く
2. 請求書の宛名を変更したいです。
"""
    assert split_inquiries(body) == [
        "1. 次の手順でエラーになります。回避方法を教えてください。\n  (1) ログインする\n"
        "  (2) 設定画面を開く",
        "2. 請求書の宛名を変更したいです。",
    ]


def test_r3_nested_questions_in_last_item_stay_with_it() -> None:
    body = """\
1. パスワードを忘れた場合の手続きを教えてください。
2. 以下の点を確認させてください。
  ① 上限はありますか？
  ② 料金はかかりますか？
"""
    assert split_inquiries(body) == [
        "1. パスワードを忘れた場合の手続きを教えてください。",
        "2. 以下の点を確認させてください。\n  ① 上限はありますか？\n  ② 料金はかかりますか？",
    ]


def test_r3_a_statement_item_joins_the_next_question() -> None:
    body = """\
1. ライセンスの追加購入を検討しています。
2. 追加した場合の料金を教えてください。
3. 納期はどのくらいでしょうか？
"""
    assert split_inquiries(body) == [
        "1. ライセンスの追加購入を検討しています。\n2. 追加した場合の料金を教えてください。",
        "3. 納期はどのくらいでしょうか？",
    ]


def test_r3_text_after_the_last_item_stays_with_it_minus_closings() -> None:
    body = """\
1. 通知メールは何時に送られますか？
2. 通知の送信元アドレスを変更したいです。

補足: 現在は noreply@example.co.jp になっています。

以上です。
よろしくお願いいたします。
"""
    assert split_inquiries(body) == [
        "1. 通知メールは何時に送られますか？",
        "2. 通知の送信元アドレスを変更したいです。\n\n"
        "補足: 現在は noreply@example.co.jp になっています。",
    ]


def test_r3_english_questions() -> None:
    body = "Hello,\n\nQ1. How do I reset my password?\nQ2. Can you extend the trial?\n\nThanks"
    assert split_inquiries(body) == [
        "Q1. How do I reset my password?",
        "Q2. Can you extend the trial?",
    ]


def test_r3_only_new_text_of_a_reply_is_split() -> None:
    body = """\
追加で1点だけ確認させてください。
ライセンスの有効期限はいつまででしょうか？

━━━━━━━━━━━━━━━━━━━━
株式会社サンプル 山田 太郎
TEL: 03-1234-5678
━━━━━━━━━━━━━━━━━━━━

2026年11月20日(金) 10:00 サポートセンター <support@uketsuke.example>:
> 1. 移行は可能です。
> 2. 手順は添付をご覧ください。
"""
    layout = analyse_layout(body)
    assert split_inquiries(layout.new_text) == [
        "追加で1点だけ確認させてください。\nライセンスの有効期限はいつまででしょうか？"
    ]


def test_r3_no_enumeration_is_one_inquiry() -> None:
    body = "\nお世話になっております。\nログインできません。\n"
    assert split_inquiries(body) == ["お世話になっております。\nログインできません。"]


@pytest.mark.parametrize("body", ["", " ", "\n\n", "\u3000\t\n"])
def test_r3_whitespace_only_is_no_inquiry(body: str) -> None:
    assert split_inquiries(body) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ログインできますか", True),
        ("可能でしょうか", True),
        ("教えてください", True),
        ("ご対応願います", True),
        ("変更したい", True),
        ("方法", True),
        ("How do I reset it", True),
        ("Is it possible?", True),
        ("ログインする", False),
        ("画面が真っ白になる", False),
        ("OS: Windows 11", False),
    ],
)
def test_r3_inquiry_markers(text: str, expected: bool) -> None:
    assert is_inquiry(text) is expected


def test_r3_a_heading_that_asks_about_steps_lets_the_items_decide() -> None:
    body = """\
操作手順について教えてください。
1. ユーザーを追加する手順は？
2. ユーザーを削除する手順は？
"""
    assert split_inquiries(body) == [
        "1. ユーザーを追加する手順は？",
        "2. ユーザーを削除する手順は？",
    ]


def test_r3_a_closing_line_that_asks_is_kept() -> None:
    body = (
        "1. 上限はありますか？\n2. 料金を教えてください。\n"
        "お手数ですが、本日中にご回答いただけますか？"
    )
    assert split_inquiries(body)[-1] == (
        "2. 料金を教えてください。\nお手数ですが、本日中にご回答いただけますか？"
    )


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["crlf", "lone-cr"])
def test_r3_split_does_not_depend_on_newlines(newline: str) -> None:
    body = TWO_QUESTIONS.format(first="1. ", second="2. ").replace("\n", newline)
    assert split_inquiries(body) == [
        "1. ライセンスを別のサーバーへ移行することは可能でしょうか？",
        "2. CSVで出力したファイルの文字コードを教えてください。",
    ]
    assert split_inquiries("ログイン\r\nできません。\r\n") == ["ログイン\nできません。"]
