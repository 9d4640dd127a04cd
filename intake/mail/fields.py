"""The four required fields of an inquiry, read from a mail or fax body (R1).

社名 (company), 氏名 (name), ドメイン名 (domain) and 顧客番号 (customer number) must be stated (HD
仕様書 3.2). Only *labelled* values count: a line whose (NFKC-normalised) start is a known label,
Japanese or English, in any of the forms customers, HTML-to-text converters and fax OCR produce::

    会社名：株式会社サンプル        社名: …         ■貴社名 …        【御社名】株式会社サンプル
    会 社 名 ： …  (spaced)        氏　名 …        [お名前] …       ● ご担当者名 … (decorations)
    会社名（必須）： …              会社名<TAB>株式会社サンプル      | 会社名 | 株式会社サンプル |
    【会社名】  ← value on the next non-empty line
    顧客番号! C0123ー4567  (OCR: ``!`` ``;`` ``|`` ``'`` read for a colon; ``i`` after a Japanese
                           label when a space follows)

A Japanese label may be followed by a space, a colon-like separator, or (after 【】/[]) nothing; an
English label needs a separator, a tab or two spaces (so prose such as "Name resolution fails"
is not a label). A second labelled value on the same line (``氏名：山田 会社名：…``) is split off
when it follows a space and has a colon. A next-line value is taken only when that line is not a
label itself, not a border and not a sentence.

Priority per field: the new text (before the signature), then the signature, then the quoted
history; within each, the first *valid* value. When no labelled company exists in the new text or
the signature, a signature line with a company form (株式会社, 有限会社, 合同会社, (株), ㈱,
"Co., Ltd.", "Inc.") gives the company, still before the quoted history; this is the only
unlabelled value read.

A value is *valid* when it survives its normaliser: a customer number needs an ASCII letter or
digit, a domain must look like one, and a company or name is at most 100 characters, holds no
``。``/``？``/``?`` (a sentence is not a name) and is not a placeholder (なし, 不明, 未定, -, ー,
N/A …) or a bare honorific (様, 殿, 御中 …). An invalid value does not stop the search: the next
labelled line may still give the field.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, fields

from intake.fieldnames import FIELD_NAMES, stated_fields
from intake.mail.fieldvalues import (
    NORMALIZERS,
    label_key,
    normalize_customer_number,
    normalize_domain,
    normalize_free_text,
    normalize_text,
)
from intake.mail.layout import BodyLayout, is_border_line, split_lines

__all__ = [
    "Fields",
    "extract_fields",
    "normalize_customer_number",
    "normalize_domain",
    "normalize_text",
]

_JA_LABELS = {
    "company": ("会社名", "貴社名", "御社名", "法人名", "団体名", "組織名", "企業名", "社名"),
    "name": (
        "ご担当者氏名",
        "担当者氏名",
        "ご担当者名",
        "担当者名",
        "ご担当者",
        "担当者",
        "ご氏名",
        "氏名",
        "お名前",
        "名前",
    ),
    "domain": (
        "ご利用ドメイン名",
        "ご利用ドメイン",
        "対象ドメイン名",
        "対象ドメイン",
        "ドメイン名",
        "ドメイン",
    ),
    "customer_number": (
        "お客様番号",
        "お客さま番号",
        "顧客番号",
        "お客様ID",
        "お客さまID",
        "顧客ID",
        "お客様コード",
        "お客さまコード",
        "顧客コード",
        "お客様No.",
        "お客様No",
        "顧客No.",
        "顧客No",
    ),
}
_EN_LABELS = {
    "company": ("Company Name", "Company", "Organization", "Organisation"),
    "name": ("Your Name", "Full Name", "Contact Name", "Contact Person", "Contact", "Name"),
    "domain": ("Domain Name", "Domain"),
    "customer_number": (
        "Customer Number",
        "Customer No.",
        "Customer No",
        "Customer ID",
        "Customer Code",
    ),
}


_LABEL_FIELD = {
    label_key(label): field
    for table in (_JA_LABELS, _EN_LABELS)
    for field, labels in table.items()
    for label in labels
}
_ENGLISH_KEYS = frozenset(label_key(label) for labels in _EN_LABELS.values() for label in labels)


def _label_pattern(label: str) -> str:
    if label.isascii():
        words = [re.escape(word) for word in label.split()]
        return r"[ \t]{1,3}".join(words) + r"(?![A-Za-z0-9])"
    parts: list[str] = []
    for index, char in enumerate(label):
        if index and not (char.isascii() and label[index - 1].isascii()):
            parts.append(r"[ \t]{0,2}")
        parts.append(re.escape(char))
    return "".join(parts)


_ALL_LABELS = sorted(
    (label for table in (_JA_LABELS, _EN_LABELS) for labels in table.values() for label in labels),
    key=len,
    reverse=True,
)
_LABELS = "|".join(_label_pattern(label) for label in _ALL_LABELS)
_DECORATION = r"[ \t>|■□●○◆◇・*\-#※▼▶►☆★◎〇]"
_NOTE = r"(?:\([^()\n]{0,20}\))?"

_LABEL_LINE_RE = re.compile(
    rf"{_DECORATION}*+(?:\d{{1,2}}[.)][ \t]*+)?(?P<open>[【\[<〈《「])?[ \t]*+"
    rf"(?P<label>{_LABELS})[ \t]*+{_NOTE}[ \t]*+(?P<close>[】\]>〉》」◆◇■□●○★☆])?"
    r"[ \t]*+(?P<sep>[:!;|']|[iI](?=[ \t]|$))?[ \t]*+(?P<rest>[^\n]*)",
    re.IGNORECASE,
)
_INLINE_LABEL_RE = re.compile(
    rf"(?<=[ \t])[【\[■●・]?(?P<label>{_LABELS})[ \t]*+{_NOTE}[ \t]*+[】\]]?[ \t]*+:",
    re.IGNORECASE,
)
_PAREN_NOTE_RE = re.compile(r"\([^()\n]*\)")
_LINE_DECORATION_RE = re.compile(r"[ \t>|]*+")
_SENTENCE_END = ("。", "？", "?", "！")
_MAX_NEXT_LINE_VALUE = 80

_SIGNATURE_DECORATION = " \t|■□●○◆◇・*#※▼▶►☆★◎〇━─=＝-_"
_COMPANY_FORM_RE = re.compile(
    r"(株式会社|有限会社|合同会社|\((?:株|有)\))"
    r"|(\bCo\., ?Ltd\.?|\bInc\.|\bCorporation\b|\bK\.K\.)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Fields:
    """The R1 fields as read; ``None`` where the inquiry does not state a usable value."""

    company: str | None
    name: str | None
    domain: str | None
    customer_number: str | None

    def missing(self) -> list[str]:
        """Names of the absent fields, in the order company, name, domain, customer_number (R2)."""
        return [f.name for f in fields(self) if getattr(self, f.name) is None]


def _clean_cell(value: str) -> str:
    value = value.strip().rstrip("|").strip()
    if value.endswith(("】", "]")) and not any(c in value for c in "【["):
        value = value[:-1].rstrip()
    return value


def _accepts_gap(match: re.Match[str]) -> bool:
    """Whether the text after a label without a colon or bracket is its value (table rows)."""
    gap = _PAREN_NOTE_RE.sub("", match.string[match.end("label") : match.start("rest")])
    if not gap or gap.strip(" \t"):
        return False
    if label_key(match.group("label")) in _ENGLISH_KEYS:
        return "\t" in gap or len(gap) >= 2
    return True


def _next_line_value(lines: list[str], index: int) -> str | None:
    for position in range(index + 1, len(lines)):
        line = lines[position]
        candidate = _LINE_DECORATION_RE.sub("", line, count=1).strip()
        if not candidate:
            continue
        if (
            _LABEL_LINE_RE.match(line)
            or is_border_line(candidate)
            or candidate.endswith(_SENTENCE_END)
            or len(candidate) > _MAX_NEXT_LINE_VALUE
        ):
            return None
        return _clean_cell(candidate)
    return None


def _labelled_values(text: str) -> list[tuple[str, str]]:
    """(field, raw value) pairs in reading order from one region of a body."""
    pairs: list[tuple[str, str]] = []
    lines = split_lines(unicodedata.normalize("NFKC", text))
    for index, line in enumerate(lines):
        match = _LABEL_LINE_RE.match(line)
        if match is None:
            continue
        key = label_key(match.group("label"))
        field = _LABEL_FIELD.get(key)
        if field is None or (match.group("sep") in ("i", "I") and key in _ENGLISH_KEYS):
            continue
        rest = match.group("rest")
        explicit = match.group("sep") is not None or match.group("close") is not None
        if not rest.strip():
            value = _next_line_value(lines, index)
            if value is not None:
                pairs.append((field, value))
            continue
        if not explicit and not _accepts_gap(match):
            continue
        pairs.extend(_split_inline(field, rest))
    return pairs


def _split_inline(field: str, rest: str) -> list[tuple[str, str]]:
    """``株式会社サンプル 氏名：山田`` → the company, then the name."""
    pairs: list[tuple[str, str]] = []
    current, start = field, 0
    for inline in _INLINE_LABEL_RE.finditer(rest):
        pairs.append((current, _clean_cell(rest[start : inline.start()])))
        current = _LABEL_FIELD.get(label_key(inline.group("label")), current)
        start = inline.end()
    pairs.append((current, _clean_cell(rest[start:])))
    return pairs


def _first_valid(pairs: list[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for field, raw in pairs:
        if field in found:
            continue
        value = NORMALIZERS[field](raw)
        if value is not None:
            found[field] = value
    return found


def _company_from_signature(signature: str) -> str | None:
    """A company form on a signature line: ``株式会社サンプル 営業部`` → ``株式会社サンプル``."""
    for line in split_lines(unicodedata.normalize("NFKC", signature)):
        match = _COMPANY_FORM_RE.search(line)
        if match is None:
            continue
        text = line.strip().strip(_SIGNATURE_DECORATION)
        if match.group(2):
            value = text[: text.find(match.group(2)) + len(match.group(2))]
        else:
            value = _token_with(text, match.group(1))
        result = normalize_free_text(value)
        if result is not None:
            return result
    return None


def _token_with(text: str, form: str) -> str:
    """The whitespace-separated word holding the company form, with its neighbour if bare."""
    tokens = text.split()
    for position, token in enumerate(tokens):
        if form not in token:
            continue
        if token == form and position + 1 < len(tokens):
            return f"{token} {tokens[position + 1]}"
        if token == form and position:
            return f"{tokens[position - 1]} {token}"
        return token
    return text


def extract_fields(layout: BodyLayout) -> Fields:
    """Read the R1 fields: new text, then signature, then quoted history, per field."""
    new = _first_valid(_labelled_values(layout.new_text))
    signature = _first_valid(_labelled_values(layout.signature_text))
    merged = {**signature, **new}
    if "company" not in merged:
        company = _company_from_signature(layout.signature_text)
        if company is not None:
            merged["company"] = company
    if len(merged) < len(FIELD_NAMES) and layout.quoted_text:
        quoted = _first_valid(_labelled_values(layout.quoted_text))
        merged = {**quoted, **merged}
    return Fields(**stated_fields(merged))


def is_field_line(line: str) -> bool:
    """True when the line states one of the four fields (so it is not an inquiry's first line)."""
    return bool(_labelled_values(line))
