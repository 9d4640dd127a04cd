"""Decoding primitives and Japan's legacy codecs (R28), for :mod:`intake.mail.charsets`.

Strict and lenient decodes (one U+FFFD per broken character, through the error handlers below),
EUC-JP with Microsoft's rows, and an ISO-2022-JP walker for what the stdlib codec rejects (NEC
row 13 and the IBM rows inside ``ESC $ B``, SO/SI kana, unknown escapes).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from functools import lru_cache

from intake.mail.charsetnames import (
    ASCII,
    CP932,
    DBCS_CODECS,
    EUC_CODECS,
    EUCJP,
    ISO2022JP,
    SJIS_CODECS,
)

Sniff = Callable[[bytes], str]  # bytes of unknown charset to text

FFFD = "\ufffd"

ISO2022_DESIGNATION = re.compile(rb"\x1b(?:\$[@B]|\$\([DOPQ]|\(I)")
_ESCAPE = re.compile(rb"(\x1b[\x20-\x2f]*[\x30-\x7e])")
_ESCAPE_OR_SHIFT = re.compile(rb"(\x1b[\x20-\x2f]*[\x30-\x7e]|[\x0e\x0f])")  # CP50222 SO/SI
_EUC_PAIR = re.compile(rb"[\xa1-\xfe][\xa1-\xfe]")
# JIS bytes 0x21-0x7E to their EUC form (| 0x80); every other byte unchanged.
_TO_EUC = bytes(b | 0x80 if 0x21 <= b <= 0x7E else b for b in range(256))
_TO_KANA = bytes(b | 0x80 if 0x21 <= b <= 0x5F else b for b in range(256))
_ROMAN = str.maketrans({"\\": "\u00a5", "~": "\u203e"})  # JIS X 0201 Roman, as iso2022_jp does


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
        return FFFD


def _ms_handler(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    span = _euc_span(exc.object, exc.start)
    return _ms_char(bytes(exc.object[exc.start : exc.start + span])), exc.start + span


def _euc_handler(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return FFFD, exc.start + _euc_span(exc.object, exc.start)


def _sjis_handler(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    obj, i = exc.object, exc.start
    lead = obj[i]
    paired = (0x81 <= lead <= 0x9F or 0xE0 <= lead <= 0xFC) and i + 1 < len(obj)
    if paired and (0x40 <= obj[i + 1] <= 0x7E or 0x80 <= obj[i + 1] <= 0xFC):
        return FFFD, i + 2
    return FFFD, i + 1


def _dbcs_handler(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    obj, i = exc.object, exc.start
    paired = obj[i] >= 0x81 and i + 1 < len(obj) and obj[i + 1] >= 0x40 and obj[i + 1] != 0x7F
    return FFFD, i + (2 if paired else 1)


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
    if codec in SJIS_CODECS:
        return "uketsuke.sjis"
    if codec in EUC_CODECS:
        return "uketsuke.euc"
    if codec in DBCS_CODECS:
        return "uketsuke.dbcs"
    return "replace"


def _patched(data: bytes, codec: str, errors: str) -> str:
    """Decode with one of the handlers above, which cost a Python call per error; large inputs
    that are mostly not in ``codec`` (binary junk) get the C-level 'replace' instead."""
    quick = data.decode(codec, "replace")
    errors_seen = quick.count(FFFD)
    if errors_seen > 2000 and 4 * errors_seen > len(quick):
        return quick
    return data.decode(codec, errors)


def strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec, "uketsuke.latin1" if codec == "cp1252" else "strict")
    except (UnicodeError, LookupError):
        return None


def lenient(data: bytes, codec: str) -> tuple[str, int]:
    """Decode with one U+FFFD per broken character, after a strict decode failed; return the text
    and how many characters were replaced (at least one)."""
    try:
        text = _patched(data, codec, _errors_for(codec))
    except (UnicodeError, LookupError):
        text = data.decode(ASCII, "replace")
    return text, max(1, _replaced(text, data) if codec.startswith("utf") else text.count(FFFD))


def _replaced(text: str, data: bytes) -> int:
    """U+FFFD in ``text`` that did not come from a UTF-8 encoded U+FFFD in ``data``."""
    return max(0, text.count(FFFD) - data.count(b"\xef\xbf\xbd"))


def decode_eucjp(data: bytes, codec: str = EUCJP) -> tuple[str, int]:
    """EUC-JP: strict, then per character NEC/IBM rows as CP51932/eucJP-ms have them, then
    JIS X 0213. (Not ``euc_jis_2004`` for the whole text first: it reads rows 89-92, where
    CP51932 puts 髙 and 﨑, as other kanji, silently.)"""
    text = strict(data, codec)
    if text is not None:
        return text, 0
    text = _patched(data, EUCJP, "uketsuke.eucjp-ms")
    return text, text.count(FFFD)


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


def _decode_2022_run(run: bytes, mode: str, sniff: Sniff) -> str:
    if mode in ("ascii", "roman"):
        if not run.isascii():
            return sniff(run)
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


def decode_iso2022jp(
    data: bytes, sniff: Sniff, codec: str = ISO2022JP
) -> tuple[str, int, list[str]]:
    """Strict stdlib decode; on failure walk the escape sequences (MS extensions, SO/SI kana).

    8-bit data never goes to the stdlib codec: after a broken escape its bytes are decoded by
    ``sniff`` (the charset sniffer, passed in: it tries this decoder too).
    """
    text = strict(data, codec) if data.isascii() else None
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
        return text, text.count(FFFD), []
    out: list[str] = []
    mode = before_shift = "ascii"
    unknown = 0
    for index, part in enumerate(parts):
        if not index % 2:
            if part:
                out.append(_decode_2022_run(part, mode, sniff))
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
