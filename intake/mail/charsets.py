"""Charset layer of mail parsing (R28): bytes of a text part to ``str``, never raising.

R28 asks for ISO-2022-JP with Microsoft's extensions, Shift_JIS/CP932, EUC-JP and UTF-8, and for
mislabelled parts to be decoded by fallback. The fast path is one strict decode with the declared
codec in C; the fallbacks below run only when it fails or the label cannot be trusted:

* ISO-2022-JP: the stdlib ``iso2022_jp`` rejects NEC row 13 (①, ㈱, №) and the NEC-selected IBM
  rows (髙, 﨑) sent inside ``ESC $ B``; a small walker turns each JIS run into EUC-JP bytes,
  decodes them with ``euc_jp`` (same mapping as ``iso2022_jp``, so 〜 stays U+301C) and resolves
  the pairs it rejects through Shift_JIS and ``cp932``, then ``euc_jis_2004``.
* Shift_JIS labels decode with ``cp932``; EUC-JP with ``euc_jp`` and the same per-pair fallback,
  which is how Windows' CP51932 and eucJP-ms put ① at 0xADA1.
* Unlabelled, unknown or wrongly labelled bytes are sniffed: ISO-2022-JP escapes, strict UTF-8,
  then ``cp932`` against ``euc_jp`` by a score. U+FFFD appears only where none of them decodes,
  one per broken character.

Defects are short strings, one per finding, starting with ``charset-unknown``,
``charset-undeclared``, ``charset-mismatch``, ``charset-replaced`` or ``iso-2022-jp-escape``.
"""

import codecs
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from intake.mail.headers import decode_header_value, decode_param

__all__ = ["decode_header_value", "decode_param", "decode_text", "normalize_charset"]

ISO2022JP = "iso2022_jp"
CP932 = "cp932"
EUCJP = "euc_jp"
UTF8 = "utf-8"
ASCII = "ascii"
_FFFD = "\ufffd"

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
_ISO2022JP_FAMILY = frozenset(
    {ISO2022JP, "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_3", "iso2022_jp_2004"}
)
_JAPANESE_LEGACY = frozenset(
    {CP932, EUCJP, "euc_jis_2004", "euc_jisx0213", "shift_jis_2004", "shift_jisx0213"}
)
_SJIS_CODECS = frozenset({CP932, "shift_jis", "shift_jis_2004", "shift_jisx0213"})
_EUC_CODECS = frozenset({EUCJP, "euc_jis_2004", "euc_jisx0213", "gb2312", "euc_kr"})
_DBCS_CODECS = frozenset({"gbk", "cp949", "big5", "big5hkscs", "cp950", "johab"})
_NOT_ASCII_BASED = ("utf-16", "utf-32", "utf-7", "hz", "iso2022")

_ISO2022_DESIGNATION = re.compile(rb"\x1b(?:\$[@B]|\$\([DOPQ]|\(I)")
_ESCAPE = re.compile(rb"(\x1b[\x20-\x2f]*[\x30-\x7e])")
_ESCAPE_OR_SHIFT = re.compile(rb"(\x1b[\x20-\x2f]*[\x30-\x7e]|[\x0e\x0f])")  # CP50222 SO/SI
_EUC_PAIR = re.compile(rb"[\xa1-\xfe][\xa1-\xfe]")
# JIS bytes 0x21-0x7E to their EUC form (| 0x80); every other byte unchanged.
_TO_EUC = bytes(b | 0x80 if 0x21 <= b <= 0x7E else b for b in range(256))
_TO_KANA = bytes(b | 0x80 if 0x21 <= b <= 0x5F else b for b in range(256))
_ROMAN = str.maketrans({"\\": "\u00a5", "~": "\u203e"})  # JIS X 0201 Roman, as iso2022_jp does

_KANA = re.compile("[\u3041-\u30ff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CP932_JUNK = re.compile("[\x80\ue000-\uf8ff]")  # 0x80, 0xA0, 0xFD-0xFF, user-defined rows
_HIGH_BYTES = bytes(range(0x80, 0x100))
_ISOLATED_HIGH = re.compile(rb"(?<![\x80-\xff])[\x80-\xff](?![\x80-\xff])")
_HALFWIDTH_KANA = re.compile("[\uff61-\uff9f]")
_SYMBOLS = re.compile("[\u2460-\u24ff\u3000-\u303f\u3200-\u33ff\uf900-\ufaff\uff01-\uff60]")
# JIS X 0208 level-1 kanji (EUC rows 0xB0-0xCF), the common ones; Latin-1 bytes read as cp932 or
# EUC-JP land mostly on level-2 kanji.
_LEVEL1_KANJI = re.compile(
    "["
    + "".join(
        sorted(
            {
                bytes((row, cell)).decode(EUCJP, "ignore")
                for row in range(0xB0, 0xD0)
                for cell in range(0xA1, 0xFF)
            }
            - {""}
        )
    )
    + "]"
)
_BAD = re.compile(
    "[\x80-\x9f\u0250-\u036f\u0530-\u07ff\u1100-\u11ff\u3130-\u318f\u3400-\u4dbf"
    "\uac00-\ud7af\ue000-\uf8ff\ufff0-\ufffc\ufffe\uffff]"
)
# Sniffing priors: valid UTF-8 is strong evidence; Shift_JIS is far more common than EUC-JP.
_PRIOR = {UTF8: 1.5, CP932: 1.0}
_DECLARED_PRIOR = 1.0


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


def _jis_to_sjis(j1: int, j2: int) -> bytes:
    s2 = (j2 + (0x1F if j2 < 0x60 else 0x20)) if j1 & 1 else j2 + 0x7E
    s1 = ((j1 + 1) >> 1) + (0x70 if j1 <= 0x5E else 0xB0)
    return bytes((s1, s2))


def _euc_span(obj: bytes, i: int) -> int:
    """Length of the (broken) EUC character at ``i``, so one bad character costs one U+FFFD."""
    lead, n = obj[i], len(obj)
    if lead == 0x8F and i + 2 < n and 0xA1 <= obj[i + 1] < 0xFF and 0xA1 <= obj[i + 2] < 0xFF:
        return 3
    if (0xA1 <= lead < 0xFF or lead == 0x8E) and i + 1 < n and 0xA1 <= obj[i + 1] < 0xFF:
        return 2
    return 1


@lru_cache(maxsize=4096)
def _ms_char(chunk: bytes) -> str:
    """Decode one EUC character that ``euc_jp`` rejects: NEC/IBM rows via cp932, else JIS X 0213."""
    if len(chunk) == 2 and chunk[0] >= 0xA1:
        try:
            return _jis_to_sjis(chunk[0] & 0x7F, chunk[1] & 0x7F).decode(CP932)
        except UnicodeDecodeError:
            pass
    try:
        return chunk.decode("euc_jis_2004")
    except UnicodeDecodeError:
        return _FFFD


def _ms_handler(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    span = _euc_span(exc.object, exc.start)
    return _ms_char(bytes(exc.object[exc.start : exc.start + span])), exc.start + span


def _euc_handler(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return _FFFD, exc.start + _euc_span(exc.object, exc.start)


def _sjis_handler(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    obj, i = exc.object, exc.start
    lead = obj[i]
    paired = (0x81 <= lead <= 0x9F or 0xE0 <= lead <= 0xFC) and i + 1 < len(obj)
    if paired and (0x40 <= obj[i + 1] <= 0x7E or 0x80 <= obj[i + 1] <= 0xFC):
        return _FFFD, i + 2
    return _FFFD, i + 1


def _dbcs_handler(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    obj, i = exc.object, exc.start
    paired = obj[i] >= 0x81 and i + 1 < len(obj) and obj[i + 1] >= 0x40 and obj[i + 1] != 0x7F
    return _FFFD, i + (2 if paired else 1)


def _latin1_handler(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return chr(exc.object[exc.start]), exc.start + 1


codecs.register_error("uketsuke.eucjp-ms", _ms_handler)
codecs.register_error("uketsuke.euc", _euc_handler)
codecs.register_error("uketsuke.sjis", _sjis_handler)
codecs.register_error("uketsuke.dbcs", _dbcs_handler)
codecs.register_error("uketsuke.latin1", _latin1_handler)


def _errors_for(codec: str) -> str:
    if codec in _SJIS_CODECS:
        return "uketsuke.sjis"
    if codec in _EUC_CODECS:
        return "uketsuke.euc"
    if codec in _DBCS_CODECS:
        return "uketsuke.dbcs"
    return "replace"


def _patched(data: bytes, codec: str, errors: str) -> str:
    """Decode with one of the handlers above, which cost a Python call per error; large inputs
    that are mostly not in ``codec`` (binary junk) get the C-level 'replace' instead."""
    quick = data.decode(codec, "replace")
    errors_seen = quick.count(_FFFD)
    if errors_seen > 2000 and 4 * errors_seen > len(quick):
        return quick
    return data.decode(codec, errors)


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec, "uketsuke.latin1" if codec == "cp1252" else "strict")
    except (UnicodeError, LookupError):
        return None


def _lenient(data: bytes, codec: str) -> tuple[str, int]:
    """Decode with one U+FFFD per broken character, after a strict decode failed; return the text
    and how many characters were replaced (at least one)."""
    try:
        text = _patched(data, codec, _errors_for(codec))
    except (UnicodeError, LookupError):
        text = data.decode(ASCII, "replace")
    return text, max(1, _replaced(text, data) if codec.startswith("utf") else text.count(_FFFD))


def _replaced(text: str, data: bytes) -> int:
    """U+FFFD in ``text`` that did not come from a UTF-8 encoded U+FFFD in ``data``."""
    return max(0, text.count(_FFFD) - data.count(b"\xef\xbf\xbd"))


def _decode_eucjp(data: bytes, codec: str = EUCJP) -> tuple[str, int]:
    """EUC-JP: strict, then per character NEC/IBM rows as CP51932/eucJP-ms have them, then
    JIS X 0213. (Not ``euc_jis_2004`` for the whole text first: it reads rows 89-92, where
    CP51932 puts 髙 and 﨑, as other kanji, silently.)"""
    text = _strict(data, codec)
    if text is not None:
        return text, 0
    text = _patched(data, EUCJP, "uketsuke.eucjp-ms")
    return text, text.count(_FFFD)


_ISO2022_SETS = {
    "jis0212": (EUCJP, True),
    "jis0213": ("euc_jis_2004", False),
    "jis0213-2": ("euc_jis_2004", True),
    "gb2312": ("gb2312", False),
    "ksc5601": ("euc_kr", False),
}
_DESIGNATIONS = {
    b"\x1b(B": "ascii",
    b"\x1b(J": "roman",
    b"\x1b(H": "roman",
    b"\x1b(I": "kana",
    b"\x1b$@": "jis0208",
    b"\x1b$B": "jis0208",
    b"\x1b$(B": "jis0208",
    b"\x1b$(@": "jis0208",
    b"\x1b$(D": "jis0212",
    b"\x1b$(O": "jis0213",
    b"\x1b$(Q": "jis0213",
    b"\x1b$(P": "jis0213-2",
    b"\x1b$A": "gb2312",
    b"\x1b$(A": "gb2312",
    b"\x1b$(C": "ksc5601",
}
_ANNOUNCERS = frozenset({b"\x1b&@"})
_PLAIN_ESCAPES = frozenset({b"\x1b(B", b"\x1b$B", b"\x1b$@"})


def _decode_2022_run(run: bytes, mode: str) -> str:
    if mode in ("ascii", "roman"):
        if not run.isascii():
            return _sniff(run)[0]
        return run.decode(ASCII).translate(_ROMAN) if mode == "roman" else run.decode(ASCII)
    if mode == "kana":
        return _patched(run.translate(_TO_KANA), CP932, "uketsuke.sjis")
    euc = run.translate(_TO_EUC)
    if mode == "jis0208":
        return _patched(euc, EUCJP, "uketsuke.eucjp-ms")
    codec, plane2 = _ISO2022_SETS[mode]
    if plane2:
        euc = _EUC_PAIR.sub(b"\x8f\\g<0>", euc)
    return _patched(euc, codec, "uketsuke.euc")


def _decode_iso2022jp(data: bytes, codec: str = ISO2022JP) -> tuple[str, int, list[str]]:
    """Strict stdlib decode; on failure walk the escape sequences (MS extensions, SO/SI kana).

    8-bit data never goes to the stdlib codec: after a broken escape it passes bytes through.
    """
    text = _strict(data, codec) if data.isascii() else None
    if text is not None:
        return text, 0, []
    shifts = b"\x0e" in data or b"\x0f" in data
    parts = (_ESCAPE_OR_SHIFT if shifts else _ESCAPE).split(data)
    escapes = parts[1::2]
    if data.isascii() and _PLAIN_ESCAPES.issuperset(escapes):
        # The usual failure, Microsoft's rows inside ESC $ B: one EUC-JP decode of the whole text.
        runs = zip((b"\x1b(B", *escapes), parts[::2], strict=True)
        euc = b"".join(run.translate(_TO_EUC) if esc != b"\x1b(B" else run for esc, run in runs)
        text = _patched(euc, EUCJP, "uketsuke.eucjp-ms")
        return text, text.count(_FFFD), []
    out: list[str] = []
    mode = before_shift = "ascii"
    unknown = 0
    for index, part in enumerate(parts):
        if not index % 2:
            if part:
                out.append(_decode_2022_run(part, mode))
        elif part == b"\x0e":
            if mode != "kana":
                before_shift, mode = mode, "kana"
        elif part == b"\x0f":
            mode = before_shift if mode == "kana" else mode
        elif part in _DESIGNATIONS:
            mode = _DESIGNATIONS[part]
        elif part not in _ANNOUNCERS:
            unknown += 1
    text = "".join(out)
    notes = [f"iso-2022-jp-escape: {unknown} unsupported escape sequence(s) ignored"]
    return text, _replaced(text, data), notes if unknown else []


def _decode_as(data: bytes, codec: str) -> tuple[str, int]:
    """Decode with ``codec`` and its R28 fallbacks; (text, number of U+FFFD substituted)."""
    if codec in _ISO2022JP_FAMILY:
        return _decode_iso2022jp(data, codec)[:2]
    if codec in (EUCJP, "euc_jis_2004", "euc_jisx0213"):
        return _decode_eucjp(data, codec)
    if codec == UTF8:
        codec = "utf-8-sig"
    text = _strict(data, codec)
    return (text, 0) if text is not None else _lenient(data, codec)


def _nonascii(text: str) -> int:
    return len(text) - len(text.encode(ASCII, "ignore"))


def _counts(text: str) -> tuple[int, int, int, int]:
    """Kana, common kanji and CJK symbols, half-width kana, junk: in ``text``."""
    common = len(_LEVEL1_KANJI.findall(text)) + len(_SYMBOLS.findall(text))
    return (
        len(_KANA.findall(text)),
        common,
        len(_HALFWIDTH_KANA.findall(text)),
        len(_BAD.findall(text)),
    )


def _score(text: str) -> float:
    """Japanese plausibility per non-ASCII character: kana 3, common kanji/CJK symbols 1, rare
    kanji 0, half-width kana -1 (what UTF-8 read as cp932 looks like), junk -3."""
    nonascii = _nonascii(text)
    if not nonascii:
        return 0.0
    kana, common, half, bad = _counts(text)
    return (3 * kana + common - half - 3 * bad) / nonascii


def _plausible(text: str, western: bool, need_kana: bool) -> bool:
    """May an undeclared legacy decoding win? At least half its non-ASCII characters typical of
    Japanese; kana when the bytes look Western; 30% kana against a single-byte label."""
    nonascii = _nonascii(text)
    kana, common, half, _ = _counts(text)
    if western and not kana or need_kana and kana < 0.3 * nonascii:
        return False
    return 2 * (kana + common + half) >= nonascii


def _looks_western(data: bytes) -> bool:
    """Most 8-bit bytes stand alone between ASCII bytes, as accented Latin letters do; Japanese
    comes in runs (hiragana and most kanji are two 8-bit bytes in Shift_JIS, all in EUC-JP)."""
    high = len(data) - len(data.translate(None, _HIGH_BYTES))
    return 2 * len(_ISOLATED_HIGH.findall(data)) >= high


def _attempt(data: bytes, codec: str, memo: dict[str, tuple[str, int]]) -> tuple[str, int]:
    if codec not in memo:
        memo[codec] = _decode_as(data, codec)
    return memo[codec]


def _contest(
    data: bytes,
    order: tuple[str, ...],
    memo: dict[str, tuple[str, int]],
    declared: str | None = None,
    need_kana: bool = False,
) -> tuple[str, str, int] | None:
    """Pick the most plausible clean decoding among ``order``; None if none decodes cleanly.

    Undeclared legacy codecs must earn it: cp932 without its non-characters (0x80, 0xA0, 0xFD-FF,
    user-defined rows), and :func:`_plausible` text.
    """
    western = _looks_western(data)
    best: tuple[float, str, str] | None = None
    for codec in order:
        text, bad = _attempt(data, codec, memo)
        if bad:
            continue
        if codec == UTF8 and not _BAD.search(text):
            return text, codec, 0
        if codec not in (UTF8, declared) and (
            codec in _SJIS_CODECS
            and _CP932_JUNK.search(text)
            or not _plausible(text, western, need_kana)
        ):
            continue
        score = _score(text) + _PRIOR.get(codec, 0.0) + _DECLARED_PRIOR * (codec == declared)
        if best is None or score > best[0]:
            best = (score, text, codec)
    return (best[1], best[2], 0) if best else None


def _sniff(
    data: bytes, declared: str | None = None, memo: dict[str, tuple[str, int]] | None = None
) -> tuple[str, str, int]:
    """Decode unlabelled or untrusted bytes: ISO-2022-JP escapes, UTF-8, cp932, euc_jp (R28).

    When nothing decodes cleanly and plausibly: the declared codec, else the one with fewest
    broken characters, with U+FFFD for them — unless that breaks more than a quarter of the
    non-ASCII characters and the bytes are undeclared, look Western or have an (implausible)
    clean Japanese reading: then windows-1252, which decodes every byte.
    """
    escaped = _ISO2022_DESIGNATION.search(data) is not None
    if data.isascii():
        if escaped:
            text, bad, _ = _decode_iso2022jp(data)
            return text, ISO2022JP, bad
        return data.decode(ASCII), ASCII, 0
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) and (text := _strict(data, "utf-16")):
        return text, "utf-16", 0
    memo = {} if memo is None else memo
    order = (ISO2022JP, UTF8, CP932, EUCJP) if escaped else (UTF8, CP932, EUCJP)
    if declared and declared not in order:
        order += (declared,)
    found = _contest(data, order, memo, declared)
    if found:
        return found
    if declared:
        order = (declared, *(c for c in order if c != declared))
    results, implausible = [], False
    for codec in order:
        text, bad = _attempt(data, codec, memo)
        if codec in _SJIS_CODECS and codec != declared:
            bad += len(_CP932_JUNK.findall(text))
        if bad:
            results.append((bad, text, codec))
        implausible |= not bad  # clean, yet rejected by _contest
    if results:
        bad, text, codec = min(results, key=lambda result: result[0])
        if 4 * bad <= _nonascii(text) or declared and not implausible and not _looks_western(data):
            return text, codec, bad
    return data.decode("cp1252", "uketsuke.latin1"), "cp1252", 0


def decode_text(data: bytes, declared: str | None) -> tuple[str, list[str]]:
    """Decode a text part's payload bytes (R28). Returns (text, defects); never raises.

    Strict decode with the declared codec first; a label that fails, or that is us-ascii/unknown
    over 8-bit bytes, falls back to sniffing the Japanese codecs. U+FFFD only where none of
    ISO-2022-JP (+MS extensions), cp932, euc_jp/euc_jis_2004 or UTF-8 decodes the bytes.
    """
    if not data:
        return "", []
    data = bytes(data)
    codec = normalize_charset(declared)
    defects: list[str] = []
    if codec in _ISO2022JP_FAMILY and data.isascii():
        text, bad, defects = _decode_iso2022jp(data, codec)
        used = codec
    elif codec in _ISO2022JP_FAMILY:  # 8-bit bytes: mislabelled, or escapes mixed with 8-bit
        text, used, bad = _sniff(data, codec if _ISO2022_DESIGNATION.search(data) else None)
    elif (
        (codec is None or not codec.startswith(_NOT_ASCII_BASED))
        and b"\x1b" in data
        and data.isascii()
        and _ISO2022_DESIGNATION.search(data)
    ):
        text, bad, defects = _decode_iso2022jp(data)
        used = ISO2022JP
    elif codec is None or codec == ASCII:
        text, used, bad = _sniff(data)
    else:
        text, used, bad = _decode_declared(data, codec)
    if codec is None and (label := _describe(declared)):
        defects.append(f"charset-unknown: {label}" + f", decoded as {used}" * (used != ASCII))
    elif codec is None and used != ASCII:
        defects.append(f"charset-undeclared: decoded as {used}")
    elif codec is not None and used not in (codec, ASCII):
        defects.append(f"charset-mismatch: declared {_describe(declared)}, decoded as {used}")
    if used == "utf-7" and _SURROGATE.search(text):  # UTF-7 decodes "+2AA-" to a lone U+D800
        text, surrogates = _SURROGATE.subn(_FFFD, text)
        bad += surrogates
    if bad:
        defects.append(f"charset-replaced: {bad} undecodable sequence(s) as U+FFFD ({used})")
    return text, defects


def _describe(label: str | None) -> str:
    return repr(label.strip()) if isinstance(label, str) and label.strip() else ""


def _decode_declared(data: bytes, codec: str) -> tuple[str, str, int]:
    """A recognised label other than ISO-2022-JP/ASCII: trust it unless the bytes disagree."""
    if codec == UTF8:
        text = _strict(data, "utf-8-sig")
        return (text, UTF8, 0) if text is not None else _sniff(data, UTF8)
    if codec.startswith(_NOT_ASCII_BASED):
        text, bad = _decode_as(data, codec)
        return text, codec, bad
    if codec in _JAPANESE_LEGACY:
        text, bad = _decode_as(data, codec)
        if data.isascii():
            return text, codec, bad
        utf8 = _strict(data, "utf-8-sig")  # fails within a few bytes on real Shift_JIS/EUC-JP
        if utf8 is not None and (
            bad
            or _score(utf8) + _PRIOR[UTF8] > _score(text) + _DECLARED_PRIOR + _PRIOR.get(codec, 0.0)
        ):
            return utf8, UTF8, 0
        return (text, codec, 0) if not bad else _sniff(data, codec, {codec: (text, bad)})
    text = _strict(data, codec)
    if text is None:
        return _sniff(data, codec)
    if not data.isascii():
        found = _contest(data, (UTF8, CP932, EUCJP), {}, need_kana=True)
        if found:
            return found
    return text, codec, 0


def __getattr__(name: str) -> Any:
    """Header decoding lives in :mod:`intake.mail.headers` (which imports this module); its two
    functions are served from here too, lazily, so either module can be imported first."""
    if name in ("decode_header_value", "decode_param"):
        from intake.mail import headers

        return getattr(headers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
