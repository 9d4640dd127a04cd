"""One text per indivisible inquiry (R3).

A message holding several inquiries becomes one incident each (HD 仕様書 1.1, 1.3). Only
explicit enumerations split: a list numbered 1, 2, 3 … in one style and at one indentation
(``1.`` ``1)`` ``１．`` ``1、`` ``①`` ``⑴`` ``(1)`` ``（１）`` ``問1`` ``質問1`` ``Q1`` ``Q1.``
``【お問い合わせ1】`` ``【質問１】`` ``[質問1]`` ``■質問1`` …). Which lists split:

* **Labelled items.** A list whose every marker is an inquiry label — 質問/ご質問/設問/問,
  お問い合わせ (and its spellings), ご依頼, ご要望, ご相談, Question, followed by its number and
  then a bracket, a delimiter, a space or the end of the line (``【質問1】``, ``問１：``,
  ``お問い合わせ2.``) — always splits, whatever its heading, and each item is its own inquiry
  whatever it says: the customer numbered their questions. ``質問1の件、承知しました`` refers
  to a question rather than labelling one, and ``Q1`` may be a quarter: those lists are
  decided by their items.
* **Other lists** split when at least two items ask or request (``？`` ``?`` ``か。``
  ``でしょうか`` ``ますか`` ``ください`` ``願います`` ``教えて`` ``いただけ`` ``したい`` ``可能``
  ``方法`` …) or report a problem in a sentence (``…できません。`` ``…というエラーが表示されます。``
  ``…届きません。`` ``…が表示されない状態です。`` ``…に失敗します。``: a fault expression and a
  です・ます ending or ``。``). A plain-form fragment (``メールが届かない``) is a bullet of a
  symptom list, and an item that opens with a sequence word (その後, 次に, すると, 再度 …) is a
  step: neither counts as a report. A list under a steps, symptoms or environment heading
  (手順, 症状, 現象, 事象, 状態, エラー内容, 環境, OS, ブラウザ, バージョン, 構成 … in the nearest
  non-blank line of the two above it) never splits, unless that heading itself asks or counts
  (質問, 教えて, ください, ？, したい, 2点, いくつか …), in which case the items decide. A
  ``label: value`` line (``ブラウザ：Chrome``) is a field of a block above, not a heading.

Each returned text is one item: its marker line, its continuation lines and any nested list.
In an unlabelled list an item that neither asks nor reports (``1. 追加購入を検討しています。``)
is kept with the next one that does (trailing ones with the previous), so no text is dropped and
no incident is consumed for a statement. The lead-in (``以下2点質問があります。``) and text
outside the split list are not copied into the items — every incident keeps the whole
message — except that the last item runs on to the end of the text, or to the heading of a
following list, minus closing lines (``以上``, ``よろしくお願いいたします``). Lines starting
with ``>`` or ``＞`` never start an item. Items are read with their line breaks removed between
Japanese characters (mailers wrap at ~36 characters, also inside ``でしょうか``).

Without such a list the whole text (stripped) is one inquiry; whitespace-only text gives
``[]`` (there is nothing to count). Returned texts end their lines with ``\n`` whatever the
input used.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from intake.mail.layout import split_lines

__all__ = ["split_inquiries", "is_inquiry", "reports_problem"]

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
#: What may follow a label's number for it to label an item (``【質問1】`` ``問1：`` ``質問1 …``).
_LABEL_ENDS = frozenset(" \t\u3000】]］)）>＞〉》」.．:：、,，-－")
#: Label words that do not always split: ``Q1`` may be a quarter (items decide).
_WEAK_LABELS = frozenset({"q"})
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
# A fault expression (NFKC, case-folded). After a negative form, ``…でしょうか`` is a request,
# ``…ように`` a setting and ``…場合は`` a condition (``…場合があります`` is a report).
_NOT_A_REPORT = r"(?!か|でしょうか|もの|よう|場合(?!が))"
_PROBLEM_RE = re.compile(
    r"(?:(?:でき|出来)(?:ません|ない|なく|ず)|届(?:かない|かなく|かず|きません|いていな|いておりません)"
    r"|(?:動|作動)(?:かない|かなく|きません)|(?:動作|起動)し(?:ない|ません|なく)"
    r"|(?:表示|反映|保存|送信|受信|更新|認識|登録|適用|同期|印刷|出力|削除)され(?:ない|ません|なく|ず)"
    r"|(?:つなが|繋が)(?:らない|らなく|りません)|開(?:かない|きません|けない|けません)"
    rf"|使え(?:ない|ません|なく)|見(?:られ|れ|え)(?:ない|ません)){_NOT_A_REPORT}"
    r"|失敗|エラー(?:メッセージ|画面|コード)?[がにと]?(?:なり|なる|なっ|出|表示|発生|返|です)"
    r"|」と(?:表示|出|返|言われ)|不具合|障害|異常(?!な[くし]|は)|バグ|文字化け|フリーズ"
    r"|固ま[るりっ]|落ち(?:る|ます|まし|て)|止ま(?:る|ります|りまし|って)|消え(?:た|て|まし)"
    r"|遅(?:い(?!時間)|延|くなる|くなって|くなります)|(?:問題|現象|事象|トラブル)が(?:発生|起き|起こ)"
    r"|\berror|\bfail|cannot|can't|unable to|not working|does(?:n't| not) work|crash|broken"
    r"|bounced?\b"
)
#: A report is a sentence: a です・ます ending or a full stop (a bare fragment is a bullet).
_SENTENCE_RE = re.compile(r"ます|ません|ました|でした|です|おります|ございます|[。!]|\.(?:\s|$)")
#: An item that opens with a sequence word is a step of one procedure, not a report of its own.
_STEP_START_RE = re.compile(
    r"[\s・:：]*(?:その後|そのあと|次に|続いて|続けて|それから|すると|さらに|再度|もう一度|最後に"
    r"|then\b|next\b|after that|finally\b)",
    re.IGNORECASE,
)
_NOT_INQUIRY_HEADING_RE = re.compile(
    r"手順|症状|現象|事象|状態|挙動|エラー内容|エラーメッセージ|環境|(?<![A-Za-z])OS(?![A-Za-z])"
    r"|ブラウザ|バージョン|構成|状況|経緯"
    r"|steps?\b|reproduce|symptoms?|environment|versions?\b|browser|error messages?",
    re.IGNORECASE,
)
_INQUIRY_HEADING_RE = re.compile(
    r"質問|問い?合わ?せ|依頼|相談|要望|教えて|ください|でしょうか|ますか|[?？]|したい|伺い|お聞き"
    r"|いただきたく|頂きたく|いただければ|[0-9二三四五六七八九十]点|何点か|数点|いくつか"
    r"|question|request",
    re.IGNORECASE,
)
#: ``ブラウザ：Chrome`` — a field of a block above, not a heading (``手順：`` or ``…は以下:`` is).
_FIELD_LINE_RE = re.compile(r"[^:：]{1,20}[:：][ \t]*\S")
_INTRODUCES_RE = re.compile(r"以下|下記|次の|の通り|のとおり|following|below")
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
    labelled: bool
    end: int  # where the marker ends in its line


@dataclass
class _List:
    key: tuple[int, str]
    markers: list[_Marker] = field(default_factory=list)
    end: int = 0  # exclusive end line of the last item

    @property
    def labelled(self) -> bool:
        """Every marker is an inquiry label: each item is its own inquiry."""
        return all(marker.labelled for marker in self.markers)


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
        if candidate.labelled:
            items.extend("\n".join(lines[a:b]).strip() for a, b in _item_spans(candidate))
            continue
        spans = zip(candidate.markers, _item_spans(candidate), strict=True)
        asking = [_asks_or_reports(lines, marker, span) for marker, span in spans]
        if sum(asking) >= 2 and not _under_other_heading(lines, candidate):
            items.extend(_merged_items(lines, candidate, asking))
    return items or ["\n".join(lines).strip()]


def is_inquiry(text: str) -> bool:
    """Whether a piece of text asks a question or makes a request (R3 markers)."""
    return _INQUIRY_RE.search(_fold(text)) is not None


def reports_problem(text: str) -> bool:
    """Whether a piece of text reports a fault in a sentence (``…できません。``), R3.

    A fragment (``メールが届かない``) is a symptom bullet and a text that opens with a sequence
    word (``その後、エラーが表示されます。``) is a step: neither is a report of its own.
    """
    return _reports(_fold(text))


def _fold(text: str) -> str:
    """NFKC, case-folded, with the mailer's line wraps undone: a break next to a Japanese
    character is removed (``表示\nされ`` is ``表示され``), any other becomes a space."""
    lines = unicodedata.normalize("NFKC", text).casefold().split("\n")
    if len(lines) == 1:
        return lines[0]
    pieces = [lines[0].rstrip(" \t")]
    for line in lines[1:]:
        line = line.strip(" \t")
        previous = pieces[-1]
        wrapped = previous and line and not (previous[-1].isascii() and line[0].isascii())
        pieces.append(line if wrapped else " " + line)
    return "".join(pieces)


def _reports(folded: str) -> bool:
    return (
        _PROBLEM_RE.search(folded) is not None
        and _SENTENCE_RE.search(folded) is not None
        and _STEP_START_RE.match(folded) is None
    )


def _asks_or_reports(lines: list[str], marker: _Marker, span: tuple[int, int]) -> bool:
    """Whether an item, read without its marker, asks, requests or reports a problem."""
    start, end = span
    folded = _fold("\n".join([lines[start][marker.end :], *lines[start + 1 : end]]).strip())
    return _INQUIRY_RE.search(folded) is not None or _reports(folded)


def _marker(line: str) -> tuple[tuple[int, str], int, bool, int] | None:
    """The marker opening ``line``: its style key, its number, whether it is a label, its end."""
    match = _MARKER_RE.match(line)
    if match is None:
        return None
    indent = len(match.group("indent").expandtabs(4))
    end = match.end()
    for name in ("circled", "pcircled", "dcircled"):
        char = match.group(name)
        if char:
            code = ord(char)
            base, style = next((b, s) for b, n, s in _CIRCLED_BLOCKS if b <= code < b + n)
            return (indent, style), code - base + 1, False, end
    if match.group("pn"):
        return (indent, "(#)"), int(match.group("pn")), False, end
    if match.group("word"):
        open_ = unicodedata.normalize("NFKC", match.group("open"))
        word = unicodedata.normalize("NFKC", match.group("word")).casefold()
        labelled = word not in _WEAK_LABELS and (end == len(line) or line[end] in _LABEL_ENDS)
        return (indent, f"{open_}{word}#"), int(match.group("wn")), labelled, end
    suffix = unicodedata.normalize("NFKC", match.group("suffix"))
    return (indent, f"#{suffix}"), int(match.group("n")), False, end


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
        key, number, labelled, end = found
        marker = _Marker(index, key, number, labelled, end)
        current = open_lists.get(key)
        if current is not None and number == current.markers[-1].number + 1:
            current.markers.append(marker)
            continue
        if current is not None:
            done.append(open_lists.pop(key))
        if number == 1:
            open_lists[key] = _List(key, [marker])
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


def _under_other_heading(lines: list[str], candidate: _List) -> bool:
    """A steps, symptoms or environment heading that does not itself ask (R3 counter-examples)."""
    first = candidate.markers[0].line
    above = (lines[i] for i in range(first - 1, max(first - 3, -1), -1) if lines[i].strip())
    heading = unicodedata.normalize("NFKC", next(above, "")).strip()
    if _FIELD_LINE_RE.match(heading) and not _INTRODUCES_RE.search(heading):
        return False  # the last row of a field block above, not this list's heading
    return bool(_NOT_INQUIRY_HEADING_RE.search(heading)) and not _INQUIRY_HEADING_RE.search(heading)


def _merged_items(lines: list[str], candidate: _List, asking: list[bool]) -> list[str]:
    """Item texts; a statement item joins the next one that asks or reports (trailing ones, the
    previous)."""
    spans: list[tuple[int, int]] = []
    pending_start: int | None = None
    for (start, end), asks in zip(_item_spans(candidate), asking, strict=True):
        if pending_start is None:
            pending_start = start
        if asks:
            spans.append((pending_start, end))
            pending_start = None
    if pending_start is not None and spans:
        spans[-1] = (spans[-1][0], candidate.end)
    return ["\n".join(lines[start:end]).strip() for start, end in spans]
