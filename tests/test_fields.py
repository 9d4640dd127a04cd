"""Required fields from mail and fax bodies (R1): labels, widths, forms, priority, normalisation."""

from __future__ import annotations

import pytest

from intake.mail.fields import (
    Fields,
    extract_fields,
    normalize_customer_number,
    normalize_domain,
    normalize_text,
)
from intake.mail.layout import analyse_layout

ALL = Fields("株式会社サンプル", "山田 太郎", "example.co.jp", "C0123-4567")


def fields_of(body: str) -> Fields:
    return extract_fields(analyse_layout(body))


TYPICAL_MAIL = """\
サポートセンター ご担当者様

いつもお世話になっております。

会社名：株式会社サンプル
氏名：山田 太郎
ドメイン名：example.co.jp
顧客番号：C0123-4567

管理画面にログインできなくなりました。
ご確認をお願いいたします。
"""

FULLWIDTH_FORM = """\
お世話になっております。
■会社名：株式会社サンプル
■お名前：山田　太郎
■ドメイン：ｅｘａｍｐｌｅ．ｃｏ．ｊｐ
■お客様番号：Ｃ０１２３－４５６７
"""

SPACED_LABELS = """\
会 社 名 ： 株式会社サンプル
氏　名　： 山田 太郎
ドメイン名 : example.co.jp
顧 客 番 号 : C0123-4567
"""

BRACKETS_NEXT_LINE = """\
【貴社名】株式会社サンプル
【ご担当者名】
山田 太郎

【ご利用ドメイン】
  example.co.jp
【顧客ID】
C0123-4567
"""

HTML_TABLE_AS_TEXT = """\
お問い合わせフォームより送信されました。

会社名	株式会社サンプル
担当者名	山田 太郎
ドメイン	example.co.jp
お客様コード	C0123-4567
"""

MARKDOWN_TABLE = """\
| 項目 | 内容 |
|---|---|
| 御社名 | 株式会社サンプル |
| ご氏名 | 山田 太郎 |
| 対象ドメイン | example.co.jp |
| 顧客番号 | C0123-4567 |
"""

SPACE_SEPARATED_ROWS = """\
会社名 株式会社サンプル
氏名 山田 太郎
ドメイン名 example.co.jp
顧客番号 C0123-4567
"""

DECORATIONS = """\
● 法人名 ： 株式会社サンプル
・名前 ： 山田 太郎
◆ドメイン名◆ example.co.jp
[お客様番号] C0123-4567
"""

ENGLISH = """\
Hello,

Company Name: 株式会社サンプル
Your Name: 山田 太郎
Domain Name: example.co.jp
Customer No.: C0123-4567

Name resolution fails on our server.
"""

ENGLISH_SHORT = """\
Company: 株式会社サンプル
Contact: 山田 太郎
Domain: https://example.co.jp/
Customer ID: c0123-4567
"""

ONE_LINE = (
    "氏名：山田 太郎　会社名：株式会社サンプル　ドメイン：example.co.jp　顧客番号：C0123-4567"
)

FAX_OCR = """\
FAX送信票
株式会社ウケツケ サポートセンター 御中
社名' 株式会社サンプル
氏名; 山田 太郎
ドメイン名! example.co.jp
顧客番号| C０１２３ー４５６７
お問い合わせ内容
ログイン画面でパスワードを入力してもエラーになります。
"""

FAX_OCR_KANJI_HYPHEN = """\
社名: 株式会社サンプル
氏名: 山田 太郎
ドメイン' example.co.jp
顧客番号! C0123一4567
"""

SIGNATURE_ONLY = """\
お世話になっております。
ライセンスキーの再発行をお願いします。

━━━━━━━━━━━━━━━━━━━━
会社名：株式会社サンプル
氏名：山田 太郎
ドメイン：example.co.jp
顧客番号：C0123-4567
TEL: 03-1234-5678
━━━━━━━━━━━━━━━━━━━━
"""

SIGNATURE_COMPANY_UNLABELLED = """\
お世話になっております。
氏名：山田 太郎
ドメイン：example.co.jp
顧客番号：C0123-4567

ログインできません。

━━━━━━━━━━━━━━━━━━━━
株式会社サンプル 情報システム部
山田 太郎
TEL: 03-1234-5678
━━━━━━━━━━━━━━━━━━━━
"""

UNLABELLED_NAME_IN_SIGNATURE = """\
ログインできません。

━━━━━━━━━━━━━━━━━━━━
山田 太郎
TEL: 03-1234-5678
━━━━━━━━━━━━━━━━━━━━
"""

NEW_TEXT_WINS_OVER_QUOTED = """\
お世話になっております。
顧客番号を訂正します。
顧客番号：C0123-4567

2026年11月20日(金) 10:00 山田 太郎 <t.yamada@example.co.jp>:
> 会社名：株式会社サンプル
> 氏名：山田 太郎
> ドメイン名：example.co.jp
> 顧客番号：C9999-0000
"""

ONLY_QUOTED = """\
先ほどの件、補足です。エラーは毎朝発生します。

-----Original Message-----
From: 山田 太郎 <t.yamada@example.co.jp>
Sent: Friday, November 20, 2026 10:00 AM
To: support@uketsuke.example
Subject: ログインできません

会社名：株式会社サンプル
氏名：山田 太郎
ドメイン名：example.co.jp
顧客番号：C0123-4567
"""

HELD_ANSWER = """\
顧客番号は C0123-4567 です。失礼しました。
顧客番号：C0123-4567

2026年11月21日(土) 9:00 サポートセンター <support@uketsuke.example>:
> 以下の項目をご記入のうえ、ご返信ください。
> ・顧客番号
> ・ドメイン名
>
> 会社名：株式会社サンプル
> 氏名：山田 太郎
"""

PLACEHOLDERS = """\
会社名：株式会社サンプル
氏名：山田 太郎
ドメイン：なし
顧客番号：不明
"""

NOTES_AND_DECORATED_VALUES = """\
会社名（必須）：株式会社サンプル
お名前(フルネーム)：山田 太郎
ドメイン名：「www.Example.co.jp」（本番環境）
お客様番号：c0123 ‐ 4567（契約書に記載）
"""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(TYPICAL_MAIL, ALL, id="typical"),
        pytest.param(FULLWIDTH_FORM, ALL, id="full-width-values-and-decorations"),
        pytest.param(SPACED_LABELS, ALL, id="spaced-labels"),
        pytest.param(BRACKETS_NEXT_LINE, ALL, id="brackets-and-next-line-values"),
        pytest.param(HTML_TABLE_AS_TEXT, ALL, id="html-table-tabs"),
        pytest.param(MARKDOWN_TABLE, ALL, id="markdown-table"),
        pytest.param(SPACE_SEPARATED_ROWS, ALL, id="label-space-value-rows"),
        pytest.param(DECORATIONS, ALL, id="bullets-and-square-brackets"),
        pytest.param(ENGLISH, ALL, id="english-labels"),
        pytest.param(ENGLISH_SHORT, ALL, id="english-short-labels-url-lowercase-id"),
        pytest.param(ONE_LINE, ALL, id="several-fields-on-one-line"),
        pytest.param(FAX_OCR, ALL, id="fax-ocr-separators-and-katakana-hyphen"),
        pytest.param(FAX_OCR_KANJI_HYPHEN, ALL, id="fax-ocr-kanji-one-hyphen"),
        pytest.param(SIGNATURE_ONLY, ALL, id="fields-only-in-signature"),
        pytest.param(SIGNATURE_COMPANY_UNLABELLED, ALL, id="company-from-signature-line"),
        pytest.param(NEW_TEXT_WINS_OVER_QUOTED, ALL, id="new-text-wins-quoted-fills-rest"),
        pytest.param(ONLY_QUOTED, ALL, id="only-in-quoted-history"),
        pytest.param(HELD_ANSWER, Fields("株式会社サンプル", "山田 太郎", None, "C0123-4567"),
                     id="answer-to-held-request-label-list-not-values"),
        pytest.param(PLACEHOLDERS, Fields("株式会社サンプル", "山田 太郎", None, None),
                     id="placeholders"),
        pytest.param(NOTES_AND_DECORATED_VALUES,
                     Fields("株式会社サンプル", "山田 太郎", "www.example.co.jp", "C0123-4567"),
                     id="notes-brackets-www"),
        pytest.param(UNLABELLED_NAME_IN_SIGNATURE, Fields(None, None, None, None),
                     id="unlabelled-signature-name-not-taken"),
        pytest.param("", Fields(None, None, None, None), id="empty"),
    ],
)  # fmt: skip
def test_r1_extract_fields(body: str, expected: Fields) -> None:
    assert fields_of(body) == expected


@pytest.mark.parametrize(
    "label",
    [
        "社名", "会社名", "貴社名", "御社名", "法人名", "団体名", "組織名", "Company",
        "Company Name", "ＣＯＭＰＡＮＹ", "会　社　名",
    ],
)  # fmt: skip
def test_r1_company_label_variants(label: str) -> None:
    assert fields_of(f"{label}：株式会社サンプル").company == "株式会社サンプル"


@pytest.mark.parametrize(
    "label",
    [
        "氏名", "お名前", "名前", "ご担当者名", "担当者名", "担当者", "ご氏名", "Name", "Your Name",
        "Contact", "氏　名", "お 名 前",
    ],
)  # fmt: skip
def test_r1_name_label_variants(label: str) -> None:
    assert fields_of(f"{label}: 山田　太郎").name == "山田 太郎"


@pytest.mark.parametrize(
    "label",
    ["ドメイン名", "ドメイン", "ご利用ドメイン", "対象ドメイン", "Domain", "Domain Name", "ﾄﾞﾒｲﾝ"],
)
def test_r1_domain_label_variants(label: str) -> None:
    assert fields_of(f"{label}：example.co.jp").domain == "example.co.jp"


@pytest.mark.parametrize(
    "label",
    [
        "顧客番号", "お客様番号", "顧客ID", "お客様ID", "顧客コード", "お客様コード", "顧客ＩＤ",
        "Customer No.", "Customer Number", "Customer ID",
    ],
)  # fmt: skip
def test_r1_customer_number_label_variants(label: str) -> None:
    assert fields_of(f"{label}：C0123-4567").customer_number == "C0123-4567"


@pytest.mark.parametrize(
    "line",
    [
        "氏名山田 太郎",  # no separator
        "名前解決ができません。",  # prose that starts with a label
        "Name resolution fails",  # English label needs a colon, a tab or two spaces
        "ご担当者様",  # salutation
        "担当者 様",  # honorific alone
        "お名前：よろしくお願いします。",  # a sentence is not a name
    ],
)
def test_r1_not_a_name(line: str) -> None:
    assert fields_of(line).name is None


def test_r1_next_line_value_is_not_another_label_or_sentence() -> None:
    assert fields_of("【会社名】\n【氏名】\n山田 太郎").company is None
    assert fields_of("【会社名】\nご確認をお願いいたします。").company is None
    assert fields_of("【氏名】\n━━━━━━\n山田 太郎").name is None


def test_r1_first_valid_value_in_a_region_wins() -> None:
    body = (
        "ドメインの設定について\nドメイン 設定方法を教えて\n"
        "ドメイン名：example.co.jp\nドメイン：other.jp"
    )
    assert fields_of(body).domain == "example.co.jp"


def test_r1_signature_beats_quoted_history_per_field() -> None:
    body = (
        "ログインできません。\n\n-- \n顧客番号：C0123-4567\n\n"
        "On Fri, Nov 20, 2026 at 10:00 AM Support <support@uketsuke.example> wrote:\n"
        "> 顧客番号：C9999-0000\n> 氏名：山田 太郎\n"
    )
    found = fields_of(body)
    assert (found.customer_number, found.name) == ("C0123-4567", "山田 太郎")


def test_r1_labelled_company_in_quoted_loses_to_signature_company_line() -> None:
    body = (
        "お世話になっております。\n\n━━━━━━━━━━\n㈱サンプル 営業部\nTEL: 03-1234-5678\n\n"
        "-----Original Message-----\n会社名：株式会社オールド\n"
    )
    assert fields_of(body).company == "(株)サンプル"


@pytest.mark.parametrize(
    ("line", "company"),
    [
        ("株式会社 サンプル 営業部", "株式会社 サンプル"),
        ("サンプル株式会社 営業部 山田", "サンプル株式会社"),
        ("合同会社テスト", "合同会社テスト"),
        ("Example Co., Ltd. Sales Dept.", "Example Co., Ltd."),
        ("Example Inc.", "Example Inc."),
    ],
)
def test_r1_company_forms_in_signature(line: str, company: str) -> None:
    body = f"ログインできません。\n\n-- \n{line}\nTEL: 03-1234-5678\n"
    assert fields_of(body).company == company


def test_r1_missing_lists_absent_fields_in_order() -> None:
    assert Fields(None, "山田", None, None).missing() == ["company", "domain", "customer_number"]
    assert ALL.missing() == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("C0123-4567", "C0123-4567"),
        ("Ｃ０１２３－４５６７", "C0123-4567"),
        ("C０１２３ー４５６７", "C0123-4567"),  # OCR: katakana prolonged sound mark
        ("C0123一4567", "C0123-4567"),  # OCR: kanji one
        ("C0123ｰ4567", "C0123-4567"),  # half-width prolonged sound mark
        ("c0123‐4567", "C0123-4567"),  # U+2010
        ("C0123–4567", "C0123-4567"),  # U+2013
        ("C0123—4567", "C0123-4567"),  # U+2014
        ("C0123―4567", "C0123-4567"),  # U+2015
        ("C0123−4567", "C0123-4567"),  # U+2212
        ("C0123 - 4567", "C0123-4567"),
        ("C0123　ー　4567", "C0123-4567"),
        ("C0123-4567（契約書に記載）", "C0123-4567"),
        ("C0123-4567 (see contract)", "C0123-4567"),
        ("C0123-4567 ※契約書参照", "C0123-4567"),
        ("  12345  ", "12345"),
        ("【C0123-4567】", "C0123-4567"),
        ("「c0123-4567」", "C0123-4567"),
        ("AB 12", "AB 12"),
        ("ーC0123", "ーC0123"),  # a leading mark is not between letters or digits
        ("なし", None),
        ("不明", None),
        ("未定", None),
        ("-", None),
        ("ー", None),
        ("N/A", None),
        ("n/a", None),
        ("", None),
        ("   ", None),
        ("（契約書に記載）", None),
        ("わかりません", None),
        ("・ドメイン名", None),
    ],
)
def test_r1_normalize_customer_number(raw: str, expected: str | None) -> None:
    assert normalize_customer_number(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.co.jp", "example.co.jp"),
        ("Example.CO.JP.", "example.co.jp"),
        ("ｅｘａｍｐｌｅ．ｃｏ．ｊｐ", "example.co.jp"),
        ("www.example.co.jp", "www.example.co.jp"),
        ("https://www.example.co.jp/support/index.html", "www.example.co.jp"),
        ("http://example.com:8080", "example.com"),
        ("<example.co.jp>", "example.co.jp"),
        ("「example.co.jp」", "example.co.jp"),
        ('"example.co.jp"', "example.co.jp"),
        ("example.co.jp（本番）", "example.co.jp"),
        ("example.co.jp です", "example.co.jp"),
        ("example.co.jp, example.com", "example.co.jp"),
        ("t.yamada@example.co.jp", "example.co.jp"),
        ("例え。jp", "例え.jp"),
        ("xn--r8jz45g.jp", "xn--r8jz45g.jp"),
        ("なし", None),
        ("不明", None),
        ("N/A", None),
        ("-", None),
        ("", None),
        ("localhost", None),
        ("192.168.0.1", None),
        ("設定方法を教えてください", None),
        ("example..jp", None),
        ("-example.jp", None),
    ],
)
def test_r1_normalize_domain(raw: str, expected: str | None) -> None:
    assert normalize_domain(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("山田　太郎", "山田 太郎"),
        ("  株式会社ｻﾝﾌﾟﾙ  ", "株式会社サンプル"),
        ("Ｅｘａｍｐｌｅ\t Inc.", "Example Inc."),
        ("㈱サンプル", "(株)サンプル"),
        ("", ""),
    ],
)
def test_r1_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_r1_ocr_i_for_a_colon_only_after_japanese_labels() -> None:
    found = fields_of("顧客番号i C0123-4567\nName I am Taro\n")
    assert (found.customer_number, found.name) == ("C0123-4567", None)


def test_r1_crlf_and_lone_cr_bodies() -> None:
    assert fields_of(TYPICAL_MAIL.replace("\n", "\r\n")) == ALL
    assert fields_of(TYPICAL_MAIL.replace("\n", "\r")) == ALL
