"""Charset labels (R28): MIME charset names to the Python codecs ``decode_text`` uses."""

from __future__ import annotations

import codecs
from functools import lru_cache

ISO2022JP = "iso2022_jp"
CP932 = "cp932"
EUCJP = "euc_jp"
UTF8 = "utf-8"
ASCII = "ascii"

_ALIASES: dict[str, str] = {
    **dict.fromkeys(
        (
            "iso-2022-jp",
            "iso2022jp",
            "csiso2022jp",
            "iso-2022-jp-ms",
            "iso2022jp-ms",
            "cp50220",
            "cp50221",
            "cp50222",
            "x-cp50220",
            "x-cp50221",
            "x-cp50222",
            "jis",
            "x-jis",
            "iso-2022-jp-ext",
            "iso2022_jp_ext",
            "iso2022_jp",
        ),
        ISO2022JP,
    ),
    "iso-2022-jp-1": "iso2022_jp_1",
    "iso-2022-jp-2": "iso2022_jp_2",
    "csiso2022jp2": "iso2022_jp_2",
    "iso-2022-jp-3": "iso2022_jp_3",
    "iso-2022-jp-2004": "iso2022_jp_2004",
    **dict.fromkeys(
        (
            "shift_jis",
            "shift-jis",
            "shiftjis",
            "sjis",
            "x-sjis",
            "s-jis",
            "ms_kanji",
            "ms-kanji",
            "csshiftjis",
            "windows-31j",
            "cswindows31j",
            "cp932",
            "ms932",
            "x-ms-cp932",
            "sjis-win",
            "sjis-open",
            "sjis-ms",
            "ibm-943",
        ),
        CP932,
    ),
    **dict.fromkeys(
        (
            "euc-jp",
            "x-euc-jp",
            "eucjp",
            "euc_jp",
            "cp51932",
            "x-cp51932",
            "eucjp-ms",
            "eucjp-win",
            "eucjp-open",
            "cseucpkdfmtjapanese",
            "ujis",
            "x-euc",
        ),
        EUCJP,
    ),
    **dict.fromkeys(
        ("utf-8", "utf8", "uft-8", "utf-8-sig", "unicode-1-1-utf-8", "x-unicode20utf8"), UTF8
    ),
    **dict.fromkeys(
        (
            "us-ascii",
            "ascii",
            "ansi_x3.4-1968",
            "ansi_x3.4-1986",
            "iso646-us",
            "us",
            "csascii",
            "iso-ir-6",
            "cp367",
            "ibm367",
            "646",
        ),
        ASCII,
    ),
    # Western mail labelled Latin-1 is written in windows-1252 (as browsers assume, WHATWG).
    **dict.fromkeys(
        ("iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "cp819", "windows-1252", "x-cp1252"),
        "cp1252",
    ),
    **dict.fromkeys(("ks_c_5601-1987", "ks_c_5601", "euc_kr", "euc-kr", "korean"), "cp949"),
    **dict.fromkeys(("gb2312", "gb_2312-80", "x-gbk", "chinese", "csgb2312"), "gbk"),
    **dict.fromkeys(("big5", "x-x-big5", "csbig5", "big5-hkscs"), "big5hkscs"),
    "iso-8859-8-i": "iso8859_8",
    "iso-8859-6-i": "iso8859_6",
    "windows-874": "cp874",
    "x-mac-cyrillic": "mac_cyrillic",
    "x-mac-roman": "mac_roman",
    "unicode-1-1-utf-7": "utf-7",
}
_UNUSABLE = frozenset({"undefined", "unicode-escape", "raw-unicode-escape", "idna", "punycode"})
ISO2022JP_FAMILY = frozenset(
    {ISO2022JP, "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_3", "iso2022_jp_2004"}
)
JAPANESE_LEGACY = frozenset(
    {CP932, EUCJP, "euc_jis_2004", "euc_jisx0213", "shift_jis_2004", "shift_jisx0213"}
)
SJIS_CODECS = frozenset({CP932, "shift_jis", "shift_jis_2004", "shift_jisx0213"})
EUC_CODECS = frozenset({EUCJP, "euc_jis_2004", "euc_jisx0213", "gb2312", "euc_kr"})
DBCS_CODECS = frozenset({"gbk", "cp949", "big5", "big5hkscs", "cp950", "johab"})
NOT_ASCII_BASED = ("utf-16", "utf-32", "utf-7", "hz", "iso2022")


@lru_cache(maxsize=512)
def _normalize(label: str) -> str | None:
    key = label.strip().strip("\"'").strip().lower().split("*", 1)[0]
    if not key:
        return None
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        info = codecs.lookup(key)
    except (LookupError, ValueError, TypeError):
        return None
    name = info.name
    if not getattr(info, "_is_text_encoding", True):  # base64, zlib, rot13: not charsets
        return None
    if name in _UNUSABLE:
        return None
    return _ALIASES.get(name, name)


def normalize_charset(label: str | None) -> str | None:
    """Map a MIME charset label to the Python codec ``decode_text`` uses (R28); None if unknown.

    All ISO-2022-JP labels (csISO2022JP, CP50220-2, iso-2022-jp-ms) give ``iso2022_jp``, Shift_JIS
    labels ``cp932``, EUC-JP labels (cp51932, eucJP-ms) ``euc_jp``.
    """
    if not isinstance(label, str):
        return None
    return _normalize(label)
