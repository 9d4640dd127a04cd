"""The summary line of incidents, acknowledgments, staff notifications and on-call pages: the
first line that states the matter, never a greeting or a self-introduction."""

from __future__ import annotations

import pytest

from intake.mail.parse import parse_message
from intake.summary import first_line, matter_line
from intake.text import strip_controls
from tests.mailmaker import make_mail

GREETINGS_ONLY = "いつもお世話になっております。\n株式会社山田製作所の山田です。"
# (body, subject, expected summary): the openings of the generated corpus and of real desks.
CASES = [
    (
        "いつもお世話になっております。\n株式会社山田製作所の山田です。\nメールが送信できません。",
        "",
        "メールが送信できません。",
    ),
    (
        "お世話になっております。\n株式会社ネオ商事 総務部の鈴木と申します。\n"
        "サーバーが応答しません。",
        "",
        "サーバーが応答しません。",
    ),
    (
        "いつも大変お世話になっております。\n大和物産株式会社の山口 一郎でございます。\n"
        "請求書の再発行をお願いします。",
        "",
        "請求書の再発行をお願いします。",
    ),
    (
        "初めてご連絡いたします。\n株式会社光で社内システムを担当しております井上と申します。\n"
        "下記の件についてお問い合わせいたします。\nDNSの設定を変更したいです。",
        "",
        "DNSの設定を変更したいです。",
    ),
    ("ご連絡ありがとうございます。\n現象が続いています。", "", "現象が続いています。"),
    ("お疲れ様です。\n山田です。\nログインできません。", "", "ログインできません。"),
    (
        "お忙しいところ恐れ入りますが、以下についてご教示ください。\n【質問1】\n"
        "PHPのバージョンを上げられますか。",
        "",
        "PHPのバージョンを上げられますか。",
    ),
    # every line a greeting: the subject, then the first line
    (GREETINGS_ONLY, "証明書の更新", "証明書の更新"),
    (GREETINGS_ONLY, "", "いつもお世話になっております。"),
    # the matter stays even when it reads like an introduction
    ("ログインの件です。", "", "ログインの件です。"),
    ("メールの送信ができない状態です。", "", "メールの送信ができない状態です。"),
]


@pytest.mark.parametrize(("body", "subject", "expected"), CASES)
def test_r3_summary_skips_greetings_and_self_introductions(
    body: str, subject: str, expected: str
) -> None:
    assert first_line(body, subject) == expected


def test_r3_two_inquiries_of_one_customer_get_different_summaries() -> None:
    opening = "いつもお世話になっております。\n株式会社山田製作所の山田です。\n"
    summaries = set()
    for matter in ("メールが送信できません。", "請求書の再発行をお願いします。"):
        parsed = parse_message(make_mail(opening + matter + "\nよろしくお願いいたします。"))
        summaries.add(first_line(parsed.inquiries[0].text, parsed.subject))
    assert summaries == {"メールが送信できません。", "請求書の再発行をお願いします。"}


@pytest.mark.parametrize(("body", "subject", "expected"), CASES)
def test_r3_the_parsers_matter_line_gives_the_summary_first_line_gives(
    body: str, subject: str, expected: str
) -> None:
    """The parse worker computes each inquiry's matter line ahead (off the processor's path);
    the summary made with it is the one made without it, the subject fallback included, and
    control characters are removed first, as accept stores the text."""
    parsed = parse_message(make_mail(body + "\x07\n", subject=subject or "件名"))
    for inquiry in parsed.inquiries:
        text = strip_controls(inquiry.text)
        assert inquiry.matter == matter_line(text)
        assert first_line(text, subject, inquiry.matter) == first_line(text, subject)
    assert first_line(body, subject, matter_line(body)) == expected
    assert "matter" not in parsed.to_json()["inquiries"][0]  # not in `uketsuke parse`
