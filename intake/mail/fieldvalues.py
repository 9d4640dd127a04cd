"""The values of the four fields (R1): how a stated company, name, domain or customer number is
normalised before it is compared with the registry (R2), and what counts as no value at all."""

from __future__ import annotations

import re
import unicodedata

_MAX_TEXT_VALUE = 100


def label_key(label: str) -> str:
    """A label or value without spaces, case-folded (how labels and placeholders compare)."""
    return "".join(label.split()).casefold()


_PLACEHOLDER_WORDS = (
    "なし 無し ナシ 特になし 不明 未定 未記入 未登録 わかりません 分かりません"
    " - ー ― ‐ − N/A NA none null nil 様 さま 殿 各位 御中"
)
_PLACEHOLDERS = frozenset(
    label_key(unicodedata.normalize("NFKC", word)) for word in _PLACEHOLDER_WORDS.split()
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
QUOTES = "<>()[]{}「」『』【】\"'`“”‘’"


def normalize_text(raw: str) -> str:
    """NFKC, whitespace runs (full-width spaces too) to one space, stripped (R1)."""
    return _WHITESPACE_RE.sub(" ", unicodedata.normalize("NFKC", raw)).strip()


def is_placeholder(value: str) -> bool:
    key = label_key(value)
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
    value = _drop_trailing_notes(normalize_text(raw)).strip(QUOTES).strip()
    value = value.upper().translate(_ALWAYS_HYPHENS)
    value = _SPACED_HYPHEN_RE.sub("-", value)
    value = _OCR_HYPHEN_RE.sub("-", value).strip()
    if is_placeholder(value) or not _ASCII_ALNUM_RE.search(value):
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
    value = tokens[0].strip(QUOTES)
    value = _SCHEME_RE.sub("", value)
    value = value.rsplit("@", 1)[-1]
    for stop in "/?#:":
        value = value.split(stop, 1)[0]
    value = value.strip(QUOTES).rstrip(".").lower()
    labels = value.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL_RE.fullmatch(label) for label in labels):
        return None
    if labels[-1].isdigit():
        return None
    return value


def normalize_free_text(raw: str) -> str | None:
    value = normalize_text(raw)
    if is_placeholder(value) or len(value) > _MAX_TEXT_VALUE:
        return None
    if any(mark in value for mark in ("。", "？", "?")):
        return None
    return value


NORMALIZERS = {
    "company": normalize_free_text,
    "name": normalize_free_text,
    "domain": normalize_domain,
    "customer_number": normalize_customer_number,
}
