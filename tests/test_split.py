"""One incident per indivisible inquiry (R3): which enumerations split, and into what."""

from __future__ import annotations

import pytest

from intake.mail.layout import analyse_layout
from intake.mail.split import is_inquiry, reports_problem, split_inquiries

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


# -- question labels and problem reports (R3) ------------------------------------------------

LABELLED = """\
お世話になっております。
2点ご確認ください。

{first}
ライセンスの追加購入を検討しています。

{second}
FTPで接続すると「530 Login incorrect」と表示され
接続できません。

以上、よろしくお願いいたします。
"""

LABELS = [
    ("【質問1】", "【質問2】"),
    ("【ご質問１】", "【ご質問２】"),
    ("［質問１］", "［質問２］"),
    ("質問1：", "質問2："),
    ("問１．", "問２．"),
    ("問1", "問2"),
    ("お問い合わせ1.", "お問い合わせ2."),
    ("【お問合せ１】", "【お問合せ２】"),
    ("■ご依頼1", "■ご依頼2"),
    ("Question 1:", "Question 2:"),
]


@pytest.mark.parametrize(("first", "second"), LABELS, ids=[s[0] for s in LABELS])
def test_r3_labelled_items_are_each_an_inquiry_whatever_they_say(first: str, second: str) -> None:
    """Neither item asks: a statement and a problem report. The labels number the inquiries."""
    assert split_inquiries(LABELLED.format(first=first, second=second)) == [
        f"{first}\nライセンスの追加購入を検討しています。",
        f"{second}\nFTPで接続すると「530 Login incorrect」と表示され\n接続できません。",
    ]


def test_r3_labelled_problem_report_is_not_merged_into_the_next_question() -> None:
    body = """\
【質問1】
ユーザーを一括登録する方法はありますか？

【質問2】
管理画面にログインすると「認証に失敗しました」と
表示されます。

【質問3】
契約期間を教えてください。
"""
    assert split_inquiries(body) == [
        "【質問1】\nユーザーを一括登録する方法はありますか？",
        "【質問2】\n管理画面にログインすると「認証に失敗しました」と\n表示されます。",
        "【質問3】\n契約期間を教えてください。",
    ]


def test_r3_a_reference_to_a_question_number_is_not_a_label() -> None:
    body = "質問1の件、承知しました。\n質問2の件も社内で共有いたしました。\n"
    assert split_inquiries(body) == [body.strip()]


def test_r3_q_numbers_are_decided_by_their_items() -> None:
    """``Q1`` may be a quarter: statements under Q1/Q2 stay one inquiry."""
    body = "Q1：売上レポートを確認しました。\nQ2：来期の計画書を送付します。\n"
    assert split_inquiries(body) == [body.strip()]


def test_r3_problem_reports_in_an_enumeration_split() -> None:
    body = """\
お世話になっております。

1. 昨日から社内の一部のパソコンでメールが送信できません。
2. Webメールにログインすると「サービスは利用できません」とい
うエラーが表示されます。
3. 請求書の宛名を変更したいです。

よろしくお願いいたします。
"""
    assert split_inquiries(body) == [
        "1. 昨日から社内の一部のパソコンでメールが送信できません。",
        "2. Webメールにログインすると「サービスは利用できません」とい\nうエラーが表示されます。",
        "3. 請求書の宛名を変更したいです。",
    ]


def test_r3_an_enumeration_of_problem_reports_alone_splits() -> None:
    body = """\
（１）
パスワード再設定用のメールが届きません。

（２）
毎晩のバックアップが失敗します。ログには何も残っていません。
"""
    assert split_inquiries(body) == [
        "（１）\nパスワード再設定用のメールが届きません。",
        "（２）\n毎晩のバックアップが失敗します。ログには何も残っていません。",
    ]


def test_r3_a_field_block_above_is_not_the_lists_heading() -> None:
    """``ブラウザ：Chrome`` ends an environment block; the questions below still split."""
    body = """\
【ご利用環境】
OS：Windows 11 Pro
ブラウザ：Google Chrome 122

1. 管理画面にログインできません。
2. パスワードの有効期限を教えてください。
"""
    assert split_inquiries(body) == [
        "1. 管理画面にログインできません。",
        "2. パスワードの有効期限を教えてください。",
    ]


PLAIN_STEPS = """\
1. ログインする
2. 設定画面を開く
3. 「保存」を押すとエラーが表示されます。
どうすればよいでしょうか。
"""

SEQUENCED_STEPS = """\
1. 管理画面にログインします。
2. その後、「保存」を押すとエラーが表示されます。
3. 再度ログインしようとしても、ログインできません。
"""

REPRO_HEADING_POLITE = """\
再現手順
1. ログイン画面でパスワードを入力すると「認証に失敗しました」と表示されます。
2. パスワードを再設定しても、再設定用のメールが届きません。
"""

SYMPTOMS_POLITE = """\
以下の症状が出ています。
① 画面が表示されません。
② メールが届きません。
"""

PHENOMENA_POLITE = """\
先週から以下の現象が発生しています。
(1) ログインできません。
(2) 送信したメールが相手に届きません。
原因を調べていただけますか。
"""

SYMPTOM_FRAGMENTS = """\
1. 画面が表示されない
2. メールが届かない
3. ログアウトされる
至急確認をお願いします。
"""

ENVIRONMENT_FIELDS = """\
ご利用環境は以下の通りです。
1. OS：Windows 11 Pro
2. メールソフト：Outlook 2021
3. エラー：「サーバーへの接続に失敗しました」と表示されます。
"""

STATE_HEADING_POLITE = """\
現在、以下の状態です。
1. ログインできません。
2. メールが届きません。
"""

SETTING_NOT_A_FAULT = """\
1. 一般ユーザーは設定を変更できないようにしています。
2. 管理者は2名です。
3. 管理者を追加する方法を教えてください。
"""


@pytest.mark.parametrize(
    "body",
    [PLAIN_STEPS, SEQUENCED_STEPS, REPRO_HEADING_POLITE, SYMPTOMS_POLITE, PHENOMENA_POLITE,
     STATE_HEADING_POLITE, SYMPTOM_FRAGMENTS, ENVIRONMENT_FIELDS, SETTING_NOT_A_FAULT],
    ids=["plain-steps", "sequenced-steps", "repro-heading", "symptoms-heading", "phenomena-heading",
         "state-heading", "symptom-fragments", "environment-fields", "setting-not-a-fault"],
)  # fmt: skip
def test_r3_problem_words_in_steps_symptoms_and_environment_do_not_split(body: str) -> None:
    assert split_inquiries(body) == [body.strip()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ログインできません。", True),
        ("FTPで接続すると「530 Login incorrect」と表示され\n接続できません。", True),
        ("「サービスは利用できません」というエラーが表示されます。", True),
        ("再設定用のメールが届きません。", True),
        ("画像が表示されない状態です。", True),
        ("毎晩のバックアップが失敗します。", True),
        ("表示が遅くなっております。", True),
        ("The export fails with an error.", True),
        ("ログインできない場合があります。", True),
        ("メールが届かない", False),
        ("その後、エラーが表示されます。", False),
        ("ログインできないでしょうか。", False),
        ("変更できないように設定しています。", False),
        ("容量が上限に近いという通知が届きました。", False),
        ("管理画面にログインします。", False),
        ("受信は異常なくできています。", False),
        ("ご連絡が遅くなり申し訳ございません。", False),
        ("別の端末では使えないでしょうか。", False),
        ("OS：Windows 11", False),
    ],
)
def test_r3_problem_report_markers(text: str, expected: bool) -> None:
    assert reports_problem(text) is expected


def test_r3_a_heading_that_asks_about_a_state_lets_the_items_decide() -> None:
    body = """\
サーバーの状態について確認したいことがあります。
1. CPU使用率を確認する方法はありますか？
2. ディスクの空き容量を教えてください。
"""
    assert split_inquiries(body) == [
        "1. CPU使用率を確認する方法はありますか？",
        "2. ディスクの空き容量を教えてください。",
    ]


def test_r3_a_request_wrapped_by_the_mailer_is_still_a_request() -> None:
    """Mailers wrap Japanese at ~36 characters, also inside いただけ or a phrase."""
    assert is_inquiry("移行の手順をご教示いただ\nけますと幸いです。")
    assert is_inquiry("Could\nyou extend the trial")
    assert split_inquiries(
        "1. 移行の手順をご教示いただ\nけますと幸いです。\n2. 料金を教えてください。"
    ) == [
        "1. 移行の手順をご教示いただ\nけますと幸いです。",
        "2. 料金を教えてください。",
    ]
