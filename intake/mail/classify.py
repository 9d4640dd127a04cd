"""Category, urgency and language of an inquiry, by keyword rules (R5, R6, R22).

The category is a suggestion staff can override (R5). Rules are tried in this order and the first
that matches wins (text NFKC-normalised and case-folded):

1. ``license`` — ライセンスキー / license key (alone enough), ライセンス or キー with 再発行,
   reissue (DN 1(2)); before everything, so a key that fails to register is still a reissue
   request.
2. ``out_of_scope`` — consulting, system construction, development, other vendors' products,
   home-built PCs, hardware failure (HD 仕様書 1.5); flagged, not rejected. ``開発`` does not count
   in 開発環境, 開発元, 開発部/課/室/本部/センター/チーム/会社, 開発版 (a customer's own words
   for their test environment or department).
3. ``fault`` — 障害, 不具合, エラー, できない/できません, 動かない, 落ちる, つながらない, バグ,
   error, fail, down … — before setup and operation: 設定できない and インストールでエラー are
   faults. A polite request (``…できないでしょうか``, ``…できませんか``) is not a fault.
4. ``setup`` — セットアップ, インストール, 初期設定, 導入, アップデート, install, setup …
5. ``operation`` — 操作, 設定, 使い方, configure …
6. ``general`` — 契約, 料金, 請求, 見積, プラン, 解約, ライセンス購入, contract, price, invoice …
7. ``operation`` again for generic how-to phrases (方法を教えて, やり方, how to) — after general,
   so 解約方法を教えてください is a contract question.
8. ``other``.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["CATEGORIES", "categorize", "has_japanese", "is_urgent"]

CATEGORIES = ("general", "setup", "operation", "fault", "license", "out_of_scope", "other")

_NOT_FAULT = r"(?!でしょうか|か|ものでしょうか)"
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "license",
        re.compile(
            r"ライセンス ?キー|licen[cs]e ?keys?|(?:ライセンス|キー)(?:の)?再発行"
            r"|licen[cs]e reissue|reissue (?:of )?(?:the |a |my |our )?licen[cs]e"
        ),
    ),
    (
        "out_of_scope",
        re.compile(
            r"コンサル|システム構築|構築(?:依頼|作業|代行)"
            r"|開発(?!環境|元|部|課|室|本部|センター|チーム|会社|版)"
            r"|プログラム(?:の)?作成|他社(?:製|の|ソフト|サービス|システム)|third[- ]party"
            r"|サポート対象外|対象外の製品|自作(?:pc|パソコン)|ハードウェア(?:の)?(?:故障|修理)"
            r"|(?:pc|パソコン)(?:本体)?(?:の)?(?:故障|修理)|consult|custom development"
            r"|outside (?:the |your )?(?:supported|scope)"
        ),
    ),
    (
        "fault",
        re.compile(
            rf"障害|不具合|エラー|バグ|異常|失敗|文字化け|フリーズ|できない{_NOT_FAULT}"
            rf"|できません{_NOT_FAULT}|出来ない{_NOT_FAULT}|出来ません{_NOT_FAULT}"
            r"|動かな|動きません|動作しな|動作しません|起動しな|起動しません|落ちる|落ちます"
            r"|落ちて|つながらな|つながりません|繋がらな|繋がりません|表示されな|表示されません"
            r"|反映されな|反映されません|届かな|届きません|固まる|固まって|止まって"
            r"|\berror|\bfail|\bdown\b|crash|not working|doesn't work|does not work|cannot"
            r"|can't|unable to|\bbugs?\b|broken"
        ),
    ),
    (
        "setup",
        re.compile(
            r"セットアップ|インストール|初期設定|導入|アップデート|バージョンアップ|アップグレード"
            r"|install|set ?up|update|upgrade"
        ),
    ),
    ("operation", re.compile(r"操作|設定|使い方|使用方法|利用方法|configur|settings?\b")),
    (
        "general",
        re.compile(
            r"契約|料金|請求|サービス内容|見積|プラン|解約|支払|価格|費用|購入|ライセンス|継続"
            r"|サポート(?:の)?(?:期間|更新)|contract|pric|invoice|billing|quot(?:e|ation)|subscription"
            r"|renew|cancel|purchase|payment"
        ),
    ),
    ("operation", re.compile(r"方法を教えて|方法は|やり方|how (?:to|do i|can i)")),
)

_URGENT_RE = re.compile(r"大至急|至急|緊急|urgent|\basap\b")
_NOT_URGENT_RE = re.compile(
    r"緊急(?:では(?:ない|ありません|ございません)|じゃない|性は(?:低い|高くない|ない|ありません)"
    r"|時|連絡)|至急(?:では(?:ない|ありません|ございません)|でなく)"
    r"|not (?:an? )?urgent|non-urgent|no urgency"
)
_JAPANESE_RE = re.compile(
    "[\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fd-\u30ff\u31f0-\u31ff\uff66-\uff9d"
    "\u3005-\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]"
)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def categorize(text: str) -> str:
    """A suggested R5 category: the first keyword rule that matches, else ``other``."""
    folded = _fold(text)
    for category, pattern in _RULES:
        if pattern.search(folded):
            return category
    return "other"


def is_urgent(subject: str, text: str) -> bool:
    """緊急/至急/大至急/urgent/ASAP in the subject or body, not negated (R22).

    ``緊急ではありませんが``, ``緊急時の連絡先``, ``not urgent`` and the like do not count: the
    after-hours page (R22) is for inquiries that say they are urgent.
    """
    folded = _NOT_URGENT_RE.sub(" ", _fold(f"{subject}\n{text}"))
    return _URGENT_RE.search(folded) is not None


def has_japanese(text: str) -> bool:
    """Any hiragana, katakana (full or half width) or CJK ideograph (R6).

    Full-width ASCII, Japanese punctuation (、。「」) and the prolonged-sound mark alone are not
    Japanese text; a text in Chinese characters only counts as Japanese (R6 cannot tell them
    apart without kana, and the acknowledgment is in both languages anyway).
    """
    return _JAPANESE_RE.search(text) is not None
