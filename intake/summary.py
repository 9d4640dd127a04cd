"""The summary line of an incident (R3): the first line of an inquiry that states its matter.

Acknowledgments, staff notifications, on-call pages and the incident list show it. Japanese
business mail opens with greetings, thanks, a self-introduction and a lead-in
(``いつもお世話になっております。`` / ``株式会社山田製作所の山田です。`` /
``下記の件についてお問い合わせいたします。``) before the matter; those lines, addressee lines and
the four fields are skipped. When every line is one of them the subject stands in, then the first
line.
"""

from __future__ import annotations

import re

from intake.mail.fields import is_field_line

FIRST_LINE_CHARS = 60
NO_TEXT = "(本文なし)"

_GREETING = re.compile(
    # salutations and thanks
    r"^(いつも|大変|たいへん|平素より?|日頃より?|日頃は)?(大変|たいへん)?(お世話に|おせわに)|"
    r"^(はじめまして|初めまして|突然の|お疲れ様|おつかれさま|お世話様)|"
    r"^(初めて|はじめて)(ご連絡|ご連絡|メール|お問い?合わせ)|"
    r"^(ご連絡|ご回答|ご返信|ご返答|ご対応|ご案内|早速の[^\s。]{0,6}|お問い?合わせ|お返事)"
    r"(いただき|頂き|を?いただき|ありがとう|有難う|下さり|くださり)[^。]{0,12}(ありがとう|有難う|感謝)|"
    r"^(ご連絡|ご回答|ご返信|ご返答|ご対応|ご案内|早速の[^\s。]{0,6})?(ありがとう|有難う)ござい|"
    r"^(お忙しい|ご多忙の)[^。]{0,20}(恐れ入り|失礼|申し訳)[^。]*[。、]?$|"
    # addressee lines
    r"(御中|様|さま|殿|ご担当者様|各位)[。、\s]*$|"
    # self-introductions: 〜の山田です。 〜の山田 一郎でございます。 〜と申します。
    r"^[^。がを]{0,40}の\s?(?!(件|状態|予定|結果|原因|通り|ため|はず|こと|もの|様子|模様)(です|で))"
    r"[一-龥々ァ-ヶー]{1,5}(\s[一-龥々ァ-ヶー]{1,5})?(です|でございます)[。！\s]*$|"
    r"^[一-龥々ァ-ヶー]{1,5}(\s[一-龥々ァ-ヶー]{1,5})?です[。！\s]*$|"
    r"(と申します|と申し上げます)[。！\s]*$|"
    # lead-ins: 下記の件についてお問い合わせいたします。 / 表題の件につきまして、…
    r"^(以下|下記|表題|標記|件名)の?(とおり|通り|内容|件|点|事項)|"
    r"(お問い?合わせ|ご連絡|ご相談|ご質問|質問)(いた|致)しま(す|した)[。\s]*$|"
    r"(質問|ご質問|お願い|確認したいこと|相談)が(ございます|あります)[。\s]*$|"
    # fax cover sheets and headings
    r"^(FAX|ファックス)?\s*(送信票|送付状|送信状)$|"
    r"^(お問い?合わせ|ご質問|ご依頼)(内容|事項)?[:：]?$|^(FAX|TEL)\s*[:：]|"
    # a heading or list marker alone on its line: 【質問1】 （2） ■ご利用環境
    r"^[【\[［■◆●・]\s*[^】\]］。]{0,12}[】\]］]?[:：]?$|^[(（]?\s*[0-9０-９]{1,2}\s*[)）.．]?$",
    re.IGNORECASE,
)


def is_greeting(line: str) -> bool:
    """A greeting, thank-you, self-introduction, lead-in or addressee line: no matter stated."""
    return bool(_GREETING.search(line.strip()))


def matter_line(text: str) -> str:
    """The first line of ``text`` that states the matter, cut to FIRST_LINE_CHARS; "" when every
    line is a greeting, lead-in, addressee line or field. The costly part of :func:`first_line`,
    so the parse worker computes it for each inquiry of a mail (``Inquiry.matter``)."""
    for raw in (text or "").splitlines():
        line = raw.strip()
        if line and not is_greeting(line) and not is_field_line(line):
            return _shorten(line)
    return ""


def first_line(text: str, subject: str = "", matter: str | None = None) -> str:
    """The summary of an inquiry: its first line that states the matter, else ``subject``, else
    its first line; cut to FIRST_LINE_CHARS. ``matter``: :func:`matter_line` of ``text``, when
    it was computed already."""
    if matter is None:
        matter = matter_line(text)
    if matter:
        return matter
    fallback = next((line.strip() for line in (text or "").splitlines() if line.strip()), "")
    chosen = subject.strip() or fallback
    return _shorten(chosen) if chosen else NO_TEXT


def _shorten(line: str) -> str:
    return line[:FIRST_LINE_CHARS] + ("…" if len(line) > FIRST_LINE_CHARS else "")
