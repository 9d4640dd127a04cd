"""Category suggestion (R5), urgency (R22) and Japanese text (R6)."""

from __future__ import annotations

import pytest

from intake.mail.classify import CATEGORIES, categorize, has_japanese, is_urgent


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # license-key reissue (DN 1(2))
        ("サーバー変更に伴い、ライセンスキーの再発行をお願いします。", "license"),
        ("ライセンスキーを紛失しました。", "license"),
        ("ライセンス キーを移行先サーバーで使いたいです。", "license"),
        ("ライセンスの再発行を依頼します。", "license"),
        ("ライセンスキーを入力するとエラーになります。", "license"),
        ("Please reissue our license key for the new server.", "license"),
        # out of scope (HD 仕様書 1.5)
        ("社内システム構築のコンサルティングをお願いできますか。", "out_of_scope"),
        ("API を使ったプログラム作成を手伝ってください。", "out_of_scope"),
        ("カスタマイズ開発の見積をお願いします。", "out_of_scope"),
        ("他社製品のメールソフトでエラーが出ます。", "out_of_scope"),
        ("自作PCで起動しません。", "out_of_scope"),
        ("ハードウェアの故障かもしれません。", "out_of_scope"),
        ("A third-party plugin fails to load.", "out_of_scope"),
        # fault before setup and operation
        ("管理画面にログインできません。", "fault"),
        ("メール通知の設定ができない状態です。", "fault"),
        ("インストール中にエラーが表示されます。", "fault"),
        ("開発環境でエラーが発生しました。", "fault"),
        ("サーバーが落ちています。", "fault"),
        ("VPN につながらない", "fault"),
        ("CSV が文字化けします。", "fault"),
        ("The service is down since 9:00.", "fault"),
        ("Login fails with error 500.", "fault"),
        # setup
        ("新しいPCへのインストール手順を確認したいです。", "setup"),
        ("初期設定の進め方を知りたいです。", "setup"),
        ("How do I install the agent?", "setup"),
        # operation
        ("通知メールの設定方法を教えてください。", "operation"),
        ("スケジュール機能の使い方がわかりません。", "operation"),
        ("ユーザーを追加する方法を教えてください。", "operation"),
        ("How to configure SSO?", "operation"),
        # general / contract
        ("年間サポートの料金を教えてください。", "general"),
        ("請求書の再発行はできないでしょうか。", "general"),
        ("解約方法を教えてください。", "general"),
        ("見積書をお送りいただけますか。", "general"),
        ("Please send the invoice for November.", "general"),
        # other
        ("いつもありがとうございます。", "other"),
        ("", "other"),
    ],
)
def test_r5_categorize(text: str, category: str) -> None:
    assert categorize(text) == category


def test_r5_categories_are_the_documented_set() -> None:
    assert CATEGORIES == (
        "general",
        "setup",
        "operation",
        "fault",
        "license",
        "out_of_scope",
        "other",
    )


def test_r5_full_width_english_is_folded() -> None:
    assert categorize("ＬＩＣＥＮＳＥ ＫＥＹ ｐｌｅａｓｅ") == "license"


@pytest.mark.parametrize(
    ("subject", "text", "urgent"),
    [
        ("【緊急】ログインできません", "", True),
        ("", "至急ご確認をお願いいたします。", True),
        ("大至急", "", True),
        ("URGENT: server down", "", True),
        ("", "Please reply ASAP.", True),
        ("Re: ｕｒｇｅｎｔ", "", True),
        ("【至急】", "", True),
        ("ログインについて", "ログインできません。", False),
        ("", "緊急ではありませんが、ご確認ください。", False),
        ("", "緊急性は低いです。", False),
        ("", "緊急時の連絡先を教えてください。", False),
        ("", "This is not urgent.", False),
        ("", "", False),
    ],
)
def test_r22_is_urgent(subject: str, text: str, urgent: bool) -> None:
    assert is_urgent(subject, text) is urgent


def test_r22_negation_does_not_hide_a_real_urgency() -> None:
    assert is_urgent("緊急", "緊急ではないと思っていましたが、全員ログインできません。")


@pytest.mark.parametrize(
    ("text", "japanese"),
    [
        ("ログインできません", True),
        ("ひらがな", True),
        ("カタカナ", True),
        ("ｶﾀｶﾅ", True),
        ("障害", True),
        ("Hello 山田", True),
        ("ＡＢＣ１２３", False),
        ("Hello, I cannot log in.", False),
        ("、。「」ー・", False),
        ("", False),
    ],
)
def test_r6_has_japanese(text: str, japanese: bool) -> None:
    assert has_japanese(text) is japanese
