"""Charset layer of mail parsing (R28): bytes of a text part to ``str``, never raising.

R28 asks for ISO-2022-JP with Microsoft's extensions, Shift_JIS/CP932, EUC-JP and UTF-8, and for
mislabelled parts to be decoded by fallback. The fast path is one strict decode with the declared
codec in C; the fallbacks (here and in :mod:`intake.mail.jiscodecs`) run only when it fails or
the label cannot be trusted:

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

import re

from intake.mail.charsetnames import (
    ASCII,
    CP932,
    EUCJP,
    ISO2022JP,
    ISO2022JP_FAMILY,
    JAPANESE_LEGACY,
    NOT_ASCII_BASED,
    SJIS_CODECS,
    UTF8,
    normalize_charset,
)
from intake.mail.jiscodecs import (
    FFFD,
    ISO2022_DESIGNATION,
    decode_eucjp,
    decode_iso2022jp,
    lenient,
    strict,
)

__all__ = ["decode_text", "normalize_charset"]

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


def _decode_as(data: bytes, codec: str) -> tuple[str, int]:
    """Decode with ``codec`` and its R28 fallbacks; (text, number of U+FFFD substituted)."""
    if codec in ISO2022JP_FAMILY:
        return decode_iso2022jp(data, _sniff_text, codec)[:2]
    if codec in (EUCJP, "euc_jis_2004", "euc_jisx0213"):
        return decode_eucjp(data, codec)
    if codec == UTF8:
        codec = "utf-8-sig"
    text = strict(data, codec)
    return (text, 0) if text is not None else lenient(data, codec)


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
            codec in SJIS_CODECS
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
    escaped = ISO2022_DESIGNATION.search(data) is not None
    if data.isascii():
        if escaped:
            text, bad, _ = decode_iso2022jp(data, _sniff_text)
            return text, ISO2022JP, bad
        return data.decode(ASCII), ASCII, 0
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) and (text := strict(data, "utf-16")):
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
        if codec in SJIS_CODECS and codec != declared:
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
    if codec in ISO2022JP_FAMILY and data.isascii():
        text, bad, defects = decode_iso2022jp(data, _sniff_text, codec)
        used = codec
    elif codec in ISO2022JP_FAMILY:  # 8-bit bytes: mislabelled, or escapes mixed with 8-bit
        text, used, bad = _sniff(data, codec if ISO2022_DESIGNATION.search(data) else None)
    elif (
        (codec is None or not codec.startswith(NOT_ASCII_BASED))
        and b"\x1b" in data
        and data.isascii()
        and ISO2022_DESIGNATION.search(data)
    ):
        text, bad, defects = decode_iso2022jp(data, _sniff_text)
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
        text, surrogates = _SURROGATE.subn(FFFD, text)
        bad += surrogates
    if bad:
        defects.append(f"charset-replaced: {bad} undecodable sequence(s) as U+FFFD ({used})")
    return text, defects


def _describe(label: str | None) -> str:
    return repr(label.strip()) if isinstance(label, str) and label.strip() else ""


def _decode_declared(data: bytes, codec: str) -> tuple[str, str, int]:
    """A recognised label other than ISO-2022-JP/ASCII: trust it unless the bytes disagree."""
    if codec == UTF8:
        text = strict(data, "utf-8-sig")
        return (text, UTF8, 0) if text is not None else _sniff(data, UTF8)
    if codec.startswith(NOT_ASCII_BASED):
        text, bad = _decode_as(data, codec)
        return text, codec, bad
    if codec in JAPANESE_LEGACY:
        text, bad = _decode_as(data, codec)
        if data.isascii():
            return text, codec, bad
        utf8 = strict(data, "utf-8-sig")  # fails within a few bytes on real Shift_JIS/EUC-JP
        if utf8 is not None and (
            bad
            or _score(utf8) + _PRIOR[UTF8] > _score(text) + _DECLARED_PRIOR + _PRIOR.get(codec, 0.0)
        ):
            return utf8, UTF8, 0
        return (text, codec, 0) if not bad else _sniff(data, codec, {codec: (text, bad)})
    text = strict(data, codec)
    if text is None:
        return _sniff(data, codec)
    if not data.isascii():
        found = _contest(data, (UTF8, CP932, EUCJP), {}, need_kana=True)
        if found:
            return found
    return text, codec, 0


def _sniff_text(data: bytes) -> str:
    """The sniffer as the ISO-2022-JP walker calls it, for 8-bit bytes after a broken escape."""
    return _sniff(data)[0]
