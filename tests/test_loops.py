"""R27: automatic mail is recognised by its subject only when the marker opens it."""

from __future__ import annotations

import pytest

from intake.mail.parse import parse_message
from tests.mailmaker import make_mail


@pytest.mark.parametrize(
    "subject",
    [
        "自動応答: お問い合わせ",
        "【自動返信】お問い合わせありがとうございます",
        "Automatic reply: [#12] お問い合わせ",
        "Out of Office: 受付のお知らせ",
        "不在のお知らせ（12/1〜12/3）",
        "不在通知",
        "Auto-Reply: ご連絡",
    ],
)
def test_r27_out_of_office_subjects_are_automatic(subject: str) -> None:
    assert parse_message(make_mail("不在です。\n", subject=subject)).kind == "auto_reply"


@pytest.mark.parametrize(
    "subject",
    [
        "自動返信の設定方法について",
        "メールの自動応答が動作しません",
        "不在通知を設定したい",
        "vacation設定の質問",
        "Re: 外出中の転送設定について",
    ],
)
def test_r27_inquiries_about_auto_reply_are_never_ignored(subject: str) -> None:
    assert parse_message(make_mail("設定方法を教えてください。\n", subject=subject)).kind != (
        "auto_reply"
    )
