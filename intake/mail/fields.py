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

from intake.mail.layout import BodyLayout, is_border_line, split_lines

__all__ = [
    "Fields",
    "extract_fields",
    "normalize_customer_number",
    "normalize_domain",
    "normalize_text",
]

FIELD_NAMES = ("company", "name", "domain", "customer_number")

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


def _label_key(label: str) -> str:
    return "".join(label.split()).casefold()


_LABEL_FIELD = {
    _label_key(label): field
    for table in (_JA_LABELS, _EN_LABELS)
    for field, labels in table.items()
    for label in labels
}
_ENGLISH_KEYS = frozenset(_label_key(label) for labels in _EN_LABELS.values() for label in labels)


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
_MAX_TEXT_VALUE = 100

_PLACEHOLDER_WORDS = (
    "なし 無し ナシ 特になし 不明 未定 未記入 未登録 わかりません 分かりません"
    " - ー ― ‐ − N/A NA none null nil 様 さま 殿 各位 御中"
)
_PLACEHOLDERS = frozenset(
    _label_key(unicodedata.normalize("NFKC", word)) for word in _PLACEHOLDER_WORDS.split()
)
_WHITESPACE_RE = re.compile(r"\s+")
_TRAILING_NOTE_RE = re.compile(r"(?:[(\[【「][^()\[\]【】「」]*[)\]】」]|※[^\n]*)$")
_ALWAYS_HYPHENS = str.maketrans(
    {c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d\ufe63\u2043"}
)
_OCR_HYPHEN_RE = re.compile(r"(?<=[A-Z0-9]) ?[ー一─━]+ ?(?=[A-Z0-9])")
_SPACED_HYPHEN_RE = re.compile(r" ?- ?")
_ASCII_ALNUM_RE = re.compile(r"[A-Z0-9]")
_DOMAIN_TOKEN_SPLIT_RE = re.compile(r"[\s,、;]+")
_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.\-]{0,15}://", re.IGNORECASE)
_DOMAIN_LABEL_RE = re.compile(r"[^\W_](?:[\w\-]{0,61}[^\W_])?")
_QUOTES = "<>()[]{}「」『』【】\"'`“”‘’"
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


def normalize_text(raw: str) -> str:
    """NFKC, whitespace runs (full-width spaces too) to one space, stripped (R1)."""
    return _WHITESPACE_RE.sub(" ", unicodedata.normalize("NFKC", raw)).strip()


def _is_placeholder(value: str) -> bool:
    key = _label_key(value)
    return not key or key in _PLACEHOLDERS or not any(char.isalnum() for char in key)


def _drop_trailing_notes(value: str) -> str:
    for _ in range(3):
        stripped = _TRAILING_NOTE_RE.sub("", value).rstrip()
        if stripped == value or not stripped:
            break
        value = stripped
    return value


def normalize_customer_number(raw: str) -> str | None:
    """Customer number as compared with the registry (R1, R2).

    NFKC, whitespace collapsed, a trailing note in brackets or after ※ dropped, surrounding
    brackets and quotes removed, upper-cased,
    every hyphen-like character (U+2010–U+2015, U+2212, U+FF0D …) turned into ``-``, and ``ー``,
    ``一`` and box-drawing dashes between letters or digits too (OCR reads hyphens as those);
    spaces around hyphens removed. Empty, placeholder (なし, 不明, -, N/A …) or without any ASCII
    letter or digit → ``None``.
    """
    value = _drop_trailing_notes(normalize_text(raw)).strip(_QUOTES).strip()
    value = value.upper().translate(_ALWAYS_HYPHENS)
    value = _SPACED_HYPHEN_RE.sub("-", value)
    value = _OCR_HYPHEN_RE.sub("-", value).strip()
    if _is_placeholder(value) or not _ASCII_ALNUM_RE.search(value):
        return None
    return value


def normalize_domain(raw: str) -> str | None:
    """Domain name as compared with the customer's registered domains (R1, R2).

    NFKC, a trailing note in brackets dropped, the first token kept (``example.co.jp です``),
    surrounding brackets and quotes, an ``http(s)://`` scheme, a path, a port and a trailing ``.``
    removed, lower-cased; ``www.`` is kept. An e-mail address gives its domain. ``。`` and ``｡``
    count as dots (IDNA does the same). Anything that is not two or more dot-separated labels
    with a non-numeric last label → ``None``.
    """
    value = _drop_trailing_notes(normalize_text(raw)).replace("。", ".")
    tokens = [token for token in _DOMAIN_TOKEN_SPLIT_RE.split(value) if token]
    if not tokens:
        return None
    value = tokens[0].strip(_QUOTES)
    value = _SCHEME_RE.sub("", value)
    value = value.rsplit("@", 1)[-1]
    for stop in "/?#:":
        value = value.split(stop, 1)[0]
    value = value.strip(_QUOTES).rstrip(".").lower()
    labels = value.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL_RE.fullmatch(label) for label in labels):
        return None
    if labels[-1].isdigit():
        return None
    return value


def _normalize_free_text(raw: str) -> str | None:
    value = normalize_text(raw)
    if _is_placeholder(value) or len(value) > _MAX_TEXT_VALUE:
        return None
    if any(mark in value for mark in ("。", "？", "?")):
        return None
    return value


_NORMALIZERS = {
    "company": _normalize_free_text,
    "name": _normalize_free_text,
    "domain": normalize_domain,
    "customer_number": normalize_customer_number,
}


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
    if _label_key(match.group("label")) in _ENGLISH_KEYS:
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
        key = _label_key(match.group("label"))
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
        current = _LABEL_FIELD.get(_label_key(inline.group("label")), current)
        start = inline.end()
    pairs.append((current, _clean_cell(rest[start:])))
    return pairs


def _first_valid(pairs: list[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for field, raw in pairs:
        if field in found:
            continue
        value = _NORMALIZERS[field](raw)
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
        result = _normalize_free_text(value)
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
    return Fields(**{name: merged.get(name) for name in FIELD_NAMES})


def is_field_line(line: str) -> bool:
    """True when the line states one of the four fields (so it is not an inquiry's first line)."""
    return bool(_labelled_values(line))
