"""Mutations of seed messages for fuzzing the parser, and the check every input must pass (R29).

A mutation draws its choices from a :class:`Chooser`, so the same mutations serve hypothesis
(``st.data()``), a plain ``random.Random`` loop (the soak) and atheris' data provider. They aim
where mail parsers break: boundaries, encoded-words, ISO-2022-JP escapes, base64 and
quoted-printable bodies, RFC 2231 parameters whose bytes decode to lone surrogates, controls.
"""

from __future__ import annotations

import csv
import json
import random
import re
import time
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Protocol

from intake.mail.parse import NotAMessage, parse_message
from tests.parsefuzz_messages import SEEDS

MAX_INPUT = 256 * 1024  # mutated inputs are cut here: the parser's time bound is per input
MAX_SECONDS = 2.0  # CPU seconds one parse may take (R29: never hang)
CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

TOKENS: tuple[bytes, ...] = (
    b"\x1b$B",
    b"\x1b(B",
    b"\x1b(J",
    b"\x1b(I",
    b"\x1b$(D",
    b"\x1b$(Q",
    b"\x1b&@",
    b"\x0e",
    b"\x0f",
    b"\x1b",
    b"=?utf-8?b?",
    b"=?ISO-2022-JP?B?GyRC",
    b"=?shift_jis?q?=82=A0",
    b"=?utf-7?b?KzJBQS0=?=",
    b"?=",
    b"=?",
    b"\r\n\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b"\r\n\t",
    b"\r\n--",
    b"--",
    b"\xff\xfe",
    b"\xfe\xff",
    b"\xef\xbb\xbf",
    b"\x00",
    b"\x82\xa0",
    b"\xa4\xa2",
    b"\xe3\x81",
    b"\xed\xa0\x80",
    b"=\r\n",
    b"=XY",
    b"=",
    b"Content-Type: multipart/mixed; boundary=x\r\n",
    b'Content-Type: multipart/alternative; boundary="=_b"\r\n',
    b"Content-Type: message/rfc822\r\n",
    b"Content-Type: text/plain; charset=utf-7\r\n",
    b"Content-Type: text/plain; charset=utf-16\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Disposition: attachment\r\n",
    b"From ",
    b"From: =?utf-8?q?=E5=B1=B1?= <a@b.jp>\r\n",
)

# Parameters the stdlib mishandles: RFC 2231 values decoding to lone surrogates, charsets it
# cannot decode with, ``name*`` beside ``name*0``, raw 8-bit bytes.
NASTY_PARAMS: tuple[bytes, ...] = (
    b"Content-Disposition: attachment; filename*=utf-7''%2B2AA-%2B3gA-.txt\r\n",
    b"Content-Disposition: attachment; filename*=unicode-escape''%5Cud800.pdf\r\n",
    b"Content-Disposition: attachment; filename*=raw-unicode-escape''%5Cudfff\r\n",
    b"Content-Disposition: attachment; filename*=utf-8''%ED%A0%80%ED%B0%80.pdf\r\n",
    b"Content-Disposition: attachment; filename*0*=utf-8''%ED%A0; filename*1*=%80.txt\r\n",
    b"Content-Disposition: attachment; filename*=idna''x.pdf\r\n",
    b"Content-Disposition: attachment; filename*=undefined''x.pdf\r\n",
    b"Content-Disposition: attachment; filename*=punycode''%80\r\n",
    b"Content-Disposition: attachment; filename*=x; filename*0=y; filename*1*=%00\r\n",
    b'Content-Disposition: attachment; filename="\xed\xa0\x80\x00.pdf"\r\n',
    b"Content-Type: application/pdf; name*=utf-16''%00%D8%00%DC\r\n",
    b"Content-Type: multipart/mixed; boundary*=idna''b\r\n",
    b"Content-Type: multipart/mixed; boundary*=x; boundary*0=y\r\n",
    b"Content-Type: multipart/mixed; boundary*=utf-7''%2B2AA-\r\n",
    b"Content-Type: text/plain; charset*=idna''x\r\n",
    b"Content-Type: text/plain; charset*=x; charset*0=y\r\n",
    b"Content-Type: multipart/report; report-type*=x; report-type*0=y; boundary*0=z\r\n",
)

_DELIMITER = re.compile(rb"(?m)^--[^\r\n]*")
_BOUNDARY = re.compile(rb"(?i)boundary=\"?([^\";\r\n]*)")
_ENCODED_WORD = re.compile(rb"=\?[^?\s]*\?[bBqQ]\?[^?\s]*\?=")
_BASE64_LINE = re.compile(rb"(?m)^[A-Za-z0-9+/]{16,}={0,2}\r?$")
_QP = re.compile(rb"=[0-9A-F]{2}|=\r?\n")
_HEADER_START = re.compile(rb"(?im)^content-[a-z-]+:")


class Chooser(Protocol):
    def integer(self, low: int, high: int) -> int:
        """A number from ``low`` to ``high``, both included."""
        ...


class RandomChooser:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)


def _pick(choose: Chooser, items: Sequence[bytes]) -> bytes:
    return items[choose.integer(0, len(items) - 1)]


def _position(choose: Chooser, data: bytearray) -> int:
    return choose.integer(0, len(data))


def _match(choose: Chooser, pattern: re.Pattern[bytes], data: bytearray) -> re.Match[bytes] | None:
    found = list(pattern.finditer(data))
    return found[choose.integer(0, len(found) - 1)] if found else None


def flip(data: bytearray, choose: Chooser) -> None:
    if data:
        data[choose.integer(0, len(data) - 1)] = choose.integer(0, 255)


def truncate(data: bytearray, choose: Chooser) -> None:
    del data[_position(choose, data) :]


def cut(data: bytearray, choose: Chooser) -> None:
    start = _position(choose, data)
    del data[start : start + choose.integer(1, 400)]


def insert_token(data: bytearray, choose: Chooser) -> None:
    position = _position(choose, data)
    data[position:position] = _pick(choose, TOKENS) * choose.integer(1, 3)


def repeat_part(data: bytearray, choose: Chooser) -> None:
    """A MIME part (delimiter to delimiter) given again, up to 40 times."""
    delimiters = [m.start() for m in _DELIMITER.finditer(data)]
    if len(delimiters) < 2:
        return
    first = choose.integer(0, len(delimiters) - 2)
    start, end = delimiters[first], delimiters[first + 1]
    data[end:end] = bytes(data[start:end]) * choose.integer(1, 40)


def splice(data: bytearray, choose: Chooser, seeds: Sequence[bytes]) -> None:
    """A piece of another seed: inserted, or in place of this one's tail."""
    other = _pick(choose, seeds)
    start = choose.integer(0, len(other))
    piece = other[start : start + choose.integer(1, 4000)]
    position = _position(choose, data)
    if choose.integer(0, 1):
        data[position:] = piece
    else:
        data[position:position] = piece


def break_boundary(data: bytearray, choose: Chooser) -> None:
    action = choose.integer(0, 3)
    if action == 0 and (found := _match(choose, _BOUNDARY, data)):
        value = bytearray(found.group(1))
        if value:
            value[choose.integer(0, len(value) - 1)] = choose.integer(32, 126)
        data[found.start(1) : found.end(1)] = value
    elif found := _match(choose, _DELIMITER, data):
        line = found.group(0)
        if action == 1:  # a close delimiter opened, or an open one closed
            replacement = line[:-2] if line.endswith(b"--") else line + b"--"
        elif action == 2:
            replacement = b""
        else:
            replacement = line + b"\r\n" + line  # an empty part
        data[found.start() : found.end()] = replacement


def break_encoded_word(data: bytearray, choose: Chooser) -> None:
    found = _match(choose, _ENCODED_WORD, data)
    if found is None:
        return
    word = bytearray(found.group(0))
    action = choose.integer(0, 3)
    if action == 0:
        del word[-2:]  # no closing ?=
    elif action == 1:
        question = word.find(b"?", 2)
        word[question + 1] ^= ord("b") ^ ord("q")
    elif action == 2:
        word.insert(choose.integer(2, len(word) - 2), choose.integer(0, 255))
    else:
        del word[choose.integer(2, len(word) - 1) :]
    data[found.start() : found.end()] = word


def break_escape(data: bytearray, choose: Chooser) -> None:
    """ISO-2022-JP: an escape dropped, garbled, or 8-bit bytes inside a JIS run."""
    escapes = [m.start() for m in re.finditer(rb"\x1b", data)]
    if not escapes:
        insert_token(data, choose)
        return
    at = escapes[choose.integer(0, len(escapes) - 1)]
    action = choose.integer(0, 2)
    if action == 0:
        del data[at : at + choose.integer(1, 3)]
    elif action == 1:
        data[at + 1 : at + 3] = bytes((choose.integer(0x20, 0x7E), choose.integer(0x20, 0x7E)))
    else:
        data[at + 3 : at + 3] = bytes(choose.integer(0x80, 0xFF) for _ in range(3))


def damage_transfer(data: bytearray, choose: Chooser) -> None:
    """Base64 with padding in the middle, stray characters or a lost line; broken QP escapes."""
    if choose.integer(0, 1) and (found := _match(choose, _BASE64_LINE, data)):
        at = choose.integer(found.start(), found.end())
        data[at:at] = _pick(choose, (b"=", b"==", b"*", b"\r\n", b"-_", b"\x00", b"===="))
        if choose.integer(0, 3) == 0:
            del data[found.start() : found.end()]
    elif found := _match(choose, _QP, data):
        data[found.start() : found.end()] = _pick(choose, (b"=", b"=G", b"=\r", b"=\xff", b"==0"))
    else:
        insert_token(data, choose)


def nasty_parameter(data: bytearray, choose: Chooser) -> None:
    """An RFC 2231 parameter that decodes to surrogates (or that the stdlib cannot read) put at
    the start of a part's header block."""
    found = _match(choose, _HEADER_START, data)
    position = found.start() if found else 0
    data[position:position] = _pick(choose, NASTY_PARAMS)


def controls(data: bytearray, choose: Chooser) -> None:
    position = _position(choose, data)
    data[position:position] = bytes(choose.integer(0, 0x1F) for _ in range(choose.integer(1, 4)))


MUTATIONS: tuple[Callable[[bytearray, Chooser], None], ...] = (
    flip,
    truncate,
    cut,
    insert_token,
    repeat_part,
    break_boundary,
    break_encoded_word,
    break_escape,
    damage_transfer,
    nasty_parameter,
    controls,
)


def mutate(seed: bytes, choose: Chooser, seeds: Sequence[bytes], rounds: int = 8) -> bytes:
    """``seed`` after 1 to ``rounds`` mutations (a splice among them: one in twelve)."""
    data = bytearray(seed)
    for _ in range(choose.integer(1, rounds)):
        which = choose.integer(0, len(MUTATIONS))
        if which == len(MUTATIONS):
            splice(data, choose, seeds)
        else:
            MUTATIONS[which](data, choose)
        del data[MAX_INPUT:]
    return bytes(data)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*(k for k in value if isinstance(k, str)), *_strings(list(value.values()))]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []


def check(data: bytes) -> None:
    """What R29 promises for any bytes: a ParsedMessage or NotAMessage, nothing else, in
    bounded time; JSON-serialisable output whose every string is UTF-8 and free of controls."""
    started = time.process_time()
    try:
        parsed = parse_message(data)
    except NotAMessage:
        return
    finally:
        spent = time.process_time() - started
        assert spent < MAX_SECONDS, f"parse took {spent:.1f} s of CPU"
    output = parsed.to_json()
    json.dumps(output, ensure_ascii=False).encode("utf-8")
    for text in _strings(output):
        text.encode("utf-8")
        assert not CONTROLS.search(text), f"control character in {text[:80]!r}"


def corpus_seeds(corpus: Path, max_size: int = 64 * 1024) -> list[bytes]:
    """Messages of /work/shared/corpus (INDEX.tsv) no bigger than ``max_size``; none without it."""
    index = corpus / "INDEX.tsv"
    if not index.is_file():
        return []
    with index.open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t") if r["dup_of"] == "-"]
    paths = [corpus / r["rel_path"] for r in rows if int(r["bytes"]) <= max_size]
    return [path.read_bytes() for path in paths if path.is_file()]


@cache
def all_seeds(corpus: Path) -> tuple[bytes, ...]:
    return (*SEEDS.values(), *corpus_seeds(corpus))
