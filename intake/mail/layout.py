"""Where a mail body's new text, its signature and its quoted history are (R1, R3).

R1 reads the required fields from the new text first, then its signature, then the quoted
history; R3 splits only the new text ("outside quoted text and signatures"). This module finds the
two boundaries on already-decoded text; it does no I/O and never raises on odd input.

A *line* ends at CRLF, LF or a lone CR (``split_lines``), so LF, CRLF and old-Mac bodies have the
same line numbers; the three parts are slices of the original text.

Quoted history starts at the first line that is one of (whichever comes first):

* an attribution line: ``On … wrote:``, ``2026年11月20日(金) 10:00 山田 太郎 <t.yamada@…>:``,
  iOS ``2026/11/20 10:00、山田 太郎 <…>のメール:``, ``… さんは書きました:``, also when the mailer
  wrapped it over two lines;
* a separator: ``-----Original Message-----``, ``----- 元のメッセージ -----``, forwarded-message
  separators (``---------- Forwarded message ---------``, ``-------- 転送メッセージ --------``) and
  ``Begin forwarded message:`` / ``転送されたメッセージ:`` — a forward is history too;
* an Outlook/iPhone header block: a ``From:``/``差出人:``/``送信者:``/``送信元:`` or
  ``Sent:``/``Date:``/``送信日時:``/``日付:`` line with the other kind and a ``Subject:``/``件名:``
  line within eight lines (the subject is required so that a fax cover's FROM/DATE lines are not
  history); a line of underscores just above the block belongs to it;
* the first line starting with ``>`` or ``＞``.

Everything from there to the end is history, so an inline (interleaved) reply's answers count as
history; the single boundary cannot say more.

The signature of the new text starts at a ``-- `` (or ``--``) line, at a border line (only border
characters: ``━━━``, ``───``, ``＝＝＝``, ``====``, ``----``, ``****``, ``＿＿＿``, ``☆★☆``, box
drawing …) or at a mobile footer (``Sent from my iPhone``, ``iPhoneから送信``), when what follows up
to the quoted history is at most 20 non-blank lines and holds no question or request (``？``,
``でしょうか``, ``ますか``, ``教えて``, ``お願い``; a confidentiality notice's "削除をお願いします"
does not count) — a bordered block of fields followed by the question is not a signature. A
border also needs a contact line (TEL/FAX/mail/@/URL/〒/phone number/company form such as
株式会社) among the first six non-blank lines after it. The earliest candidate that qualifies
wins, so a signature framed by two borders starts at the upper one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

__all__ = ["BodyLayout", "analyse_layout", "is_border_line", "split_lines"]

LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")

#: Lines after a signature start, at most (non-blank); more is body text, not a signature.
MAX_SIGNATURE_LINES = 20
#: Lines a header block may span (From … Subject).
HEADER_BLOCK_SPAN = 8

_BORDER_CHARS = frozenset(
    "-－‐‑‒–—―ー=＝*＊_＿~～〜☆★◆◇■□●○◎・+＋#＃〓▼▲▽△◇※"
    + "".join(chr(c) for c in range(0x2500, 0x2580))
)
_SEPARATOR_CHARS = "-－_＿=＝─━ \t"
_SEPARATOR_RE = re.compile(
    rf"[{_SEPARATOR_CHARS}]*+"
    r"(?:original message|元のメッセージ|オリジナル ?メッセージ|forwarded message"
    r"|転送メッセージ|転送されたメッセージ)"
    rf"[{_SEPARATOR_CHARS}]*+",
    re.IGNORECASE,
)
_FORWARD_INTRO_RE = re.compile(
    r"(?:begin forwarded message|(?:開始[:：] ?)?転送されたメッセージ)[ \t]*[:：]", re.IGNORECASE
)
_HEADER_RE = re.compile(
    r"[*]{0,2}(From|差出人|送信者|送信元|Sent|Date|送信日時|日付|日時|Subject|件名)"
    r"[*]{0,2}[ \t]*[:：]"
)
_HEADER_KIND = {
    "From": "from",
    "差出人": "from",
    "送信者": "from",
    "送信元": "from",
    "Sent": "date",
    "Date": "date",
    "送信日時": "date",
    "日付": "date",
    "日時": "date",
    "Subject": "subject",
    "件名": "subject",
}
_DATE_START_RE = re.compile(
    r"(?:On[ \t]|\d{4}[年/.\-]\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}|(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b)"
)
#: Attribution endings that are enough on their own (``… wrote:``, ``… さんは書きました:``).
_ATTRIBUTION_ENDS = ("wrote:", "書きました:", "書きました：", "書き込みました:", "書き込みました：")
#: Attribution endings that also need an address in the line (Gmail, iOS).
_ADDRESS_ATTRIBUTION_ENDS = (">:", ">：", "のメール:", "のメール：", "> wrote:")
_MAX_ATTRIBUTION = 300

_MOBILE_FOOTER_RE = re.compile(
    r"(?:sent from my [^\n]{1,40}|[^\n]{1,30}から送信|get outlook for [^\n]{1,20})",
    re.IGNORECASE,
)
_CONTACT_RE = re.compile(
    r"(?:\b(?:tel|fax|phone|mobile|mail|e-mail|email|url|web)\b|電話|携帯|メール|〒|@|https?://"
    r"|www\.|株式会社|有限会社|合同会社|\((?:株|有)\)|\bco\., ?ltd|\binc\.|\bcorporation\b"
    r"|\d{2,5}-\d{1,4}-\d{3,4})",
    re.IGNORECASE,
)
_NOT_SIGNATURE_RE = re.compile(r"(?:？|\?$|でしょうか|ますか|教えて|お願い)")
_DISCLAIMER_RE = re.compile(
    r"本メール|このメール|本電子メール|機密|秘密|誤送信|誤って|破棄|削除|第三者|守秘"
    r"|confidential|intended recipient|privileged|disclaimer",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class BodyLayout:
    """A body with its two boundaries (R1 field priority, R3 split scope).

    ``quoted_from_line`` and ``signature_from_line`` are 0-based indexes into
    ``split_lines(text)``; when both are set the signature comes first. The three parts are
    slices of ``text`` with its own line breaks, without the break that ends each part.
    """

    text: str
    quoted_from_line: int | None
    signature_from_line: int | None

    @cached_property
    def _spans(self) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        start = 0
        for match in LINE_BREAK_RE.finditer(self.text):
            spans.append((start, match.start()))
            start = match.end()
        spans.append((start, len(self.text)))
        return spans

    def _part(self, first: int, end: int) -> str:
        spans = self._spans
        end = min(end, len(spans))
        if first >= end:
            return ""
        return self.text[spans[first][0] : spans[end - 1][1]]

    @property
    def new_text(self) -> str:
        """The lines before the signature and the quoted history (what R3 splits)."""
        ends = [i for i in (self.quoted_from_line, self.signature_from_line) if i is not None]
        return self._part(0, min([len(self._spans), *ends]))

    @property
    def signature_text(self) -> str:
        """The signature's lines, up to the quoted history; empty when there is none."""
        if self.signature_from_line is None:
            return ""
        end = len(self._spans) if self.quoted_from_line is None else self.quoted_from_line
        return self._part(self.signature_from_line, end)

    @property
    def quoted_text(self) -> str:
        """The quoted history to the end of the body; empty when there is none."""
        if self.quoted_from_line is None:
            return ""
        return self._part(self.quoted_from_line, len(self._spans))


def split_lines(text: str) -> list[str]:
    """The lines of a body: CRLF, LF and a lone CR (old Mac mailers) each end a line."""
    return LINE_BREAK_RE.split(text)


def analyse_layout(text: str) -> BodyLayout:
    """Find the quoted history and the new text's signature in a decoded body (R1, R3)."""
    lines = split_lines(text)
    quoted = _find_quoted(lines)
    end = len(lines) if quoted is None else quoted
    signature = _find_signature(lines, end)
    return BodyLayout(text=text, quoted_from_line=quoted, signature_from_line=signature)


def _find_quoted(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped[0] in ">＞" or _starts_history(lines, i, stripped):
            return _include_rule_above(lines, i)
    return None


def _starts_history(lines: list[str], i: int, stripped: str) -> bool:
    if stripped[0] in _SEPARATOR_CHARS and _SEPARATOR_RE.fullmatch(stripped):
        return True
    if ":" in stripped or "：" in stripped:
        if _is_attribution(stripped) or _FORWARD_INTRO_RE.fullmatch(stripped):
            return True
        if _is_header_block(lines, i, stripped):
            return True
    if i + 1 < len(lines) and _DATE_START_RE.match(stripped):
        following = lines[i + 1].strip()
        if ":" in following or "：" in following:
            return _is_attribution(f"{stripped} {following}")
    return False


def _is_attribution(line: str) -> bool:
    if len(line) > _MAX_ATTRIBUTION:
        return False
    folded = line.casefold()
    if folded.endswith(_ATTRIBUTION_ENDS):
        return True
    return "@" in line and folded.endswith(_ADDRESS_ATTRIBUTION_ENDS)


def _header_kind(stripped: str) -> str | None:
    match = _HEADER_RE.match(stripped)
    return None if match is None else _HEADER_KIND[match.group(1)]


def _is_header_block(lines: list[str], i: int, stripped: str) -> bool:
    first = _header_kind(stripped)
    if first not in ("from", "date"):
        return False
    kinds = {first}
    for line in lines[i + 1 : i + HEADER_BLOCK_SPAN]:
        kind = _header_kind(line.strip())
        if kind is not None:
            kinds.add(kind)
    return kinds == {"from", "date", "subject"}


def _include_rule_above(lines: list[str], i: int) -> int:
    """Outlook puts a line of underscores above its header block; it belongs to the history."""
    for j in range(i - 1, max(i - 3, -1), -1):
        above = lines[j].strip()
        if not above:
            continue
        if len(above) >= 5 and set(above) <= set("_＿─"):
            return j
        break
    return i


def is_border_line(line: str) -> bool:
    """A line of border characters only (``━━━``, ``----``, ``☆★☆``, box drawing …)."""
    stripped = line.strip()
    if len(stripped) < 3:
        return False
    count = 0
    for char in stripped:
        if char in _BORDER_CHARS:
            count += 1
        elif char not in " \t\u3000":
            return False
    return count >= (4 if stripped.isascii() else 3)


def _find_signature(lines: list[str], end: int) -> int | None:
    window: list[int] = []
    for i in range(end - 1, -1, -1):
        if lines[i].strip():
            window.append(i)
            if len(window) > MAX_SIGNATURE_LINES:
                break
    window.reverse()
    last_three = set(window[-3:])
    for position, i in enumerate(window):
        block = window[position + 1 :]
        if len(block) > MAX_SIGNATURE_LINES:
            continue
        stripped = lines[i].strip()
        if stripped == "--":
            kind = "delimiter"
        elif i in last_three and _MOBILE_FOOTER_RE.fullmatch(stripped):
            kind = "mobile"
        elif block and is_border_line(stripped):
            kind = "border"
        else:
            continue
        folded = [unicodedata.normalize("NFKC", lines[j]).strip() for j in block]
        if any(_asks(line) for line in folded):
            continue
        if kind == "border" and not any(_CONTACT_RE.search(line) for line in folded[:6]):
            continue
        return i
    return None


def _asks(line: str) -> bool:
    """A question or request in prose; a confidentiality notice's request does not count."""
    return bool(_NOT_SIGNATURE_RE.search(line)) and not _DISCLAIMER_RE.search(line)
