"""One text per indivisible inquiry (R3).

A message holding several inquiries becomes one incident each (HD 仕様書 1.1, 1.3). Only
explicit enumerations split: a list numbered 1, 2, 3 … in one style and at one indentation
(``1.`` ``1)`` ``１．`` ``1、`` ``①`` ``⑴`` ``(1)`` ``（１）`` ``問1`` ``質問1`` ``Q1`` ``Q1.``
``【お問い合わせ1】`` ``【質問１】`` ``[質問1]`` ``■質問1`` …), in which at least two items
are questions or requests (``？`` ``?`` ``か。`` ``でしょうか`` ``ますか`` ``ください``
``願います`` ``教えて`` ``いただけ`` ``したい`` ``可能`` ``方法`` …). A list under a steps,
symptoms or environment heading (手順, 症状, 現象, エラー内容, 環境, OS, ブラウザ, バージョン,
構成 … in the nearest non-blank line above it) never splits, unless that heading itself asks
(質問, 教えて, ください, ？ …), in which case the items decide.

Each returned text is one item: its marker line, its continuation lines and any nested list.
An item that is not itself a question (``1. 追加購入を検討しています。``) is kept with the
next question (trailing ones with the previous question), so no text is dropped and no
incident is consumed for a statement. The lead-in (``以下2点質問があります。``) and text
outside the split list are not copied into the items — every incident keeps the whole
message — except that the last item runs on to the end of the text, or to the heading of a
following list, minus closing lines (``以上``, ``よろしくお願いいたします``). Lines starting
with ``>`` or ``＞`` never start an item.

Without such a list the whole text (stripped) is one inquiry; whitespace-only text gives
``[]`` (there is nothing to count). Returned texts end their lines with ``\n`` whatever the
input used.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from intake.mail.layout import split_lines

__all__ = ["split_inquiries", "is_inquiry"]

_WS = r"[ \t\u3000]"
_DIGIT = r"[0-9０-９]"
_WORDS = (
    "お問い合わせ|お問い合せ|お問合わせ|お問合せ|問い合わせ|問合せ|ご質問|質問|設問|問"
    "|ご依頼|依頼|ご要望|要望|ご相談|相談|Question|QUESTION|question|[QqＱｑ]"
)
_MARKER_RE = re.compile(
    rf"(?P<indent>{_WS}*+)(?:"
    r"(?P<circled>[\u2460-\u2473\u2776-\u277f\u2780-\u2789])"
    r"|(?P<pcircled>[\u2474-\u2487])"
    r"|(?P<dcircled>[\u2488-\u249b])"
    rf"|[(（]{_WS}?(?P<pn>{_DIGIT}{{1,2}}){_WS}?[)）]"
    rf"|(?P<open>[【\[［<＜〈《■□●◆◇▼▶・*＊]?){_WS}?(?P<word>{_WORDS}){_WS}?"
    rf"(?P<wn>{_DIGIT}{{1,2}})(?!{_DIGIT})"
    rf"|(?P<n>{_DIGIT}{{1,2}})(?P<suffix>[.．)）、,，:：])(?!{_DIGIT})"
    r")"
)
#: (first code point, count, style) of the circled and parenthesised digit blocks.
_CIRCLED_BLOCKS = (
    (0x2460, 20, "①"),
    (0x2474, 20, "⑴"),
    (0x2488, 20, "⒈"),
    (0x2776, 10, "❶"),
    (0x2780, 10, "➀"),
)

_INQUIRY_RE = re.compile(
    r"[?？]|か[。.]|でしょうか|ますか|ませんか|ください|下さい|願います|願いします"
    r"|願い致します|願いいたします|教えて|いただけ|頂け|したい|可能|方法"
    r"|please|could you|can you|how (?:do|can|to)",
    re.IGNORECASE,
)
_NOT_INQUIRY_HEADING_RE = re.compile(
    r"手順|症状|現象|エラー内容|エラーメッセージ|環境|(?<![A-Za-z])OS(?![A-Za-z])|ブラウザ|バージョン"
    r"|構成|状況|経緯"
    r"|steps?\b|reproduce|symptoms?|environment|versions?\b|browser|error messages?",
    re.IGNORECASE,
)
_INQUIRY_HEADING_RE = re.compile(
    r"質問|問い?合わ?せ|依頼|相談|要望|教えて|ください|でしょうか|ますか|[?？]|question|request",
    re.IGNORECASE,
)
_ASKS_RE = re.compile(r"[?？]|ますか|でしょうか|ませんか")
_CLOSING_RE = re.compile(
    r"^(?:以上|よろしく|宜しく|何卒|なにとぞ|どうぞ|お手数|引き続き|regards|best regards|thanks"
    r"|thank you|sincerely)",
    re.IGNORECASE,
)


@dataclass
class _Marker:
    line: int
    key: tuple[int, str]
    number: int


@dataclass
class _List:
    key: tuple[int, str]
    markers: list[_Marker] = field(default_factory=list)
    end: int = 0  # exclusive end line of the last item


def split_inquiries(new_text: str) -> list[str]:
    """The inquiries of a message's new text, one string each (R3)."""
    if not new_text.strip():
        return []
    lines = split_lines(new_text)
    blanks_before = [0]
    for line in lines:
        blanks_before.append(blanks_before[-1] + (not line.strip()))
    lists = _candidate_lists(lines)
    items: list[str] = []
    covered_until = -1
    for position, candidate in enumerate(lists):
        if candidate.markers[0].line < covered_until:
            continue
        candidate.end = _list_end(lines, blanks_before, lists, position)
        covered_until = candidate.end
        if _is_splitting(lines, candidate):
            items.extend(_merged_items(lines, candidate))
    return items or ["\n".join(lines).strip()]


def is_inquiry(text: str) -> bool:
    """Whether a piece of text asks a question or makes a request (R3 markers)."""
    return _INQUIRY_RE.search(unicodedata.normalize("NFKC", text)) is not None


def _marker(line: str) -> tuple[tuple[int, str], int] | None:
    match = _MARKER_RE.match(line)
    if match is None:
        return None
    indent = len(match.group("indent").expandtabs(4))
    for name in ("circled", "pcircled", "dcircled"):
        char = match.group(name)
        if char:
            code = ord(char)
            base, style = next((b, s) for b, n, s in _CIRCLED_BLOCKS if b <= code < b + n)
            return (indent, style), code - base + 1
    if match.group("pn"):
        return (indent, "(#)"), int(match.group("pn"))
    if match.group("word"):
        open_ = unicodedata.normalize("NFKC", match.group("open"))
        word = unicodedata.normalize("NFKC", match.group("word")).casefold()
        return (indent, f"{open_}{word}#"), int(match.group("wn"))
    suffix = unicodedata.normalize("NFKC", match.group("suffix"))
    return (indent, f"#{suffix}"), int(match.group("n"))


def _candidate_lists(lines: list[str]) -> list[_List]:
    """Runs of markers of one style numbered 1, 2, 3 …, at least two items, in order."""
    open_lists: dict[tuple[int, str], _List] = {}
    done: list[_List] = []
    for index, line in enumerate(lines):
        if line.lstrip(" \t\u3000").startswith((">", "＞")):
            continue
        found = _marker(line)
        if found is None:
            continue
        key, number = found
        current = open_lists.get(key)
        if current is not None and number == current.markers[-1].number + 1:
            current.markers.append(_Marker(index, key, number))
            continue
        if current is not None:
            done.append(open_lists.pop(key))
        if number == 1:
            open_lists[key] = _List(key, [_Marker(index, key, number)])
    done.extend(open_lists.values())
    lists = [found for found in done if len(found.markers) >= 2]
    return sorted(lists, key=lambda found: found.markers[0].line)


def _list_end(lines: list[str], blanks_before: list[int], lists: list[_List], position: int) -> int:
    """Where the last item ends: the end of the text, or the heading of a later list.

    A later list indented deeper, or not separated from the last item by a blank line, is
    nested in that item.
    """
    candidate = lists[position]
    last = candidate.markers[-1].line
    end = len(lines)
    for following in range(position + 1, len(lists)):
        later = lists[following]
        start = later.markers[0].line
        if start <= last:
            continue
        if later.key[0] > candidate.key[0] or blanks_before[start] == blanks_before[last]:
            continue
        end = _heading_line(lines, start)
        break
    while end > last + 1 and (not lines[end - 1].strip() or _is_closing(lines[end - 1])):
        end -= 1
    return end


def _heading_line(lines: list[str], start: int) -> int:
    """The non-blank line right above a list (its heading), else the list's first line."""
    above = start - 1
    if above >= 0 and lines[above].strip() and _marker(lines[above]) is None:
        return above
    return start


def _is_closing(line: str) -> bool:
    text = unicodedata.normalize("NFKC", line).strip()
    return bool(_CLOSING_RE.match(text)) and not _ASKS_RE.search(text)


def _item_spans(candidate: _List) -> list[tuple[int, int]]:
    starts = [marker.line for marker in candidate.markers]
    return list(zip(starts, [*starts[1:], candidate.end], strict=True))


def _is_splitting(lines: list[str], candidate: _List) -> bool:
    first = candidate.markers[0].line
    above = (lines[i] for i in range(first - 1, max(first - 3, -1), -1) if lines[i].strip())
    heading = unicodedata.normalize("NFKC", next(above, ""))
    if _NOT_INQUIRY_HEADING_RE.search(heading) and not _INQUIRY_HEADING_RE.search(heading):
        return False
    inquiries = sum(
        is_inquiry("\n".join(lines[start:end])) for start, end in _item_spans(candidate)
    )
    return inquiries >= 2


def _merged_items(lines: list[str], candidate: _List) -> list[str]:
    """Item texts; a statement item joins the next question (trailing ones, the previous)."""
    spans: list[tuple[int, int]] = []
    pending_start: int | None = None
    for start, end in _item_spans(candidate):
        if pending_start is None:
            pending_start = start
        if is_inquiry("\n".join(lines[start:end])):
            spans.append((pending_start, end))
            pending_start = None
    if pending_start is not None and spans:
        spans[-1] = (spans[-1][0], candidate.end)
    return ["\n".join(lines[start:end]).strip() for start, end in spans]
