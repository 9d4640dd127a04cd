"""Fuzzing the parser (R29: never crash, never hang; R28: every text part, valid text).

Seeds are the built-in messages of :mod:`tests.parsefuzz_messages` and, where it is present,
every message of /work/shared/corpus up to 64 KB. ``make test`` runs short rounds (seconds);
``make soak`` (``UKETSUKE_SOAK=1``) runs the slow test for ``UKETSUKE_SOAK_SECONDS`` (default
600) and prints how many inputs it tried; failing inputs are written beside the report.
"""

from __future__ import annotations

import os
import random
import time
import traceback
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intake.mail.parse import parse_message
from tests.conftest import SHARED
from tests.parsefuzz_messages import PDF, PNG, SEEDS, message, multipart, part
from tests.parsefuzz_mutate import (
    NASTY_PARAMS,
    TOKENS,
    RandomChooser,
    all_seeds,
    check,
    mutate,
)

CORPUS = SHARED / "corpus"
SOAK = os.environ.get("UKETSUKE_SOAK") == "1"
QUICK = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class DataChooser:
    """Mutation choices drawn by hypothesis, so a failing input shrinks."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def integer(self, low: int, high: int) -> int:
        return self.data.draw(st.integers(low, high))


@QUICK
@given(st.data())
def test_r29_mutated_messages_parse_or_are_not_messages(data: st.DataObject) -> None:
    seeds = all_seeds(CORPUS)
    choose = DataChooser(data)
    check(mutate(seeds[choose.integer(0, len(seeds) - 1)], choose, seeds))


@QUICK
@given(st.sampled_from(sorted(SEEDS)), st.data())
def test_r29_mutated_builtin_seeds_parse_or_are_not_messages(
    name: str, data: st.DataObject
) -> None:
    """The built-in seeds alone: the same promise where /work/shared is absent."""
    seeds = list(SEEDS.values())
    check(mutate(SEEDS[name], DataChooser(data), seeds, rounds=4))


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_r29_every_nasty_parameter_and_token_in_every_seed(name: str) -> None:
    seed = SEEDS[name]
    heads = [i for i in range(len(seed)) if seed.startswith(b"Content-", i)]
    for parameter in NASTY_PARAMS:
        for at in heads:
            check(seed[:at] + parameter + seed[at:])
    for token in TOKENS:
        for at in range(0, len(seed), max(1, len(seed) // 40)):
            check(seed[:at] + token + seed[at:])


def test_r28_builtin_seeds_read_as_written() -> None:
    """The seeds themselves parse cleanly: a mutation's failure is the mutation's."""
    for name, seed in SEEDS.items():
        parsed = parse_message(seed)
        assert "\ufffd" not in parsed.body + parsed.subject, name
        assert [d for d in parsed.defects if d.startswith("charset-replaced")] == [], name
        check(seed)


# -- generated MIME trees: every inline text part reaches the body, the rest is listed -------

KANA_AND_KANJI = "あいうえおかきくけこさしすせそアイウエオカキクケコサシスセソ日本語設定"
TEXT = st.text(alphabet=KANA_AND_KANJI + "abcXYZ019 。、：\n", min_size=1, max_size=60).filter(
    lambda t: t.strip()
)
CHARSETS = {
    "utf-8": "utf-8",
    "iso-2022-jp": "iso2022_jp",
    "shift_jis": "cp932",
    "euc-jp": "euc_jp",
    "utf-16": "utf-16",
    "utf-7": "utf-7",
}
ENCODINGS = {
    "utf-8": ("8bit", "base64", "quoted-printable"),
    "iso-2022-jp": ("7bit", "base64"),
    "shift_jis": ("8bit", "base64", "quoted-printable"),
    "euc-jp": ("8bit", "base64"),
    "utf-16": ("base64",),
    "utf-7": ("7bit",),
}


@st.composite
def text_leaf(draw: st.DrawFn) -> tuple[str, bytes, str]:
    text = draw(TEXT)
    charset = draw(st.sampled_from(sorted(CHARSETS)))
    data = text.replace("\n", "\r\n").encode(CHARSETS[charset])
    encoding = draw(st.sampled_from(ENCODINGS[charset]))
    disposition = draw(st.sampled_from([None, "inline"]))
    entity = part(
        f"text/plain; charset={charset}", data, encoding=encoding, disposition=disposition
    )
    if draw(st.booleans()):  # the same text again as HTML: one alternative is read
        html = part("text/html; charset=utf-8", f"<p>{text}</p>".encode(), encoding="base64")
        entity = multipart("alternative", [entity, html], f"=_alt{draw(st.integers(0, 99))}")
    return "text", entity, text


@st.composite
def file_leaf(draw: st.DrawFn) -> tuple[str, bytes, str]:
    content_type = draw(st.sampled_from(["application/pdf", "image/png", "text/csv"]))
    name = draw(st.binary(max_size=12)).hex() + ".bin"
    disposition = draw(st.sampled_from(["attachment", "inline"]))
    if content_type == "text/csv":
        disposition = "attachment"
    data = PDF if content_type == "application/pdf" else PNG
    entity = part(
        content_type, data, encoding="base64", disposition=f'{disposition}; filename="{name}"'
    )
    return "file", entity, content_type


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(text_leaf(), file_leaf()), min_size=1, max_size=8),
    st.lists(st.integers(0, 7), max_size=3),
)
def test_r28_generated_trees_keep_every_text_part_and_list_every_file(
    leaves: list[tuple[str, bytes, str]], groups: list[int]
) -> None:
    """Leaves in a multipart/mixed, some runs of them nested one level deeper: in order, each
    text in its charset reaches the body and each file is listed, with nothing else."""
    entities = [entity for _, entity, _ in leaves]
    for number, start in enumerate(sorted(set(groups), reverse=True)):
        if start < len(entities) - 1:
            inner = multipart("mixed", entities[start : start + 2], f"=_inner{number}")
            entities[start : start + 2] = [inner]
    parsed = parse_message(message(multipart("mixed", entities, "=_outer")))
    texts = [value.strip() for kind, _, value in leaves if kind == "text"]
    files = [value for kind, _, value in leaves if kind == "file"]
    position = 0
    for text in texts:
        found = parsed.body.find(text, position)
        assert found >= 0, (text, parsed.body)
        position = found + len(text)
    assert [a.content_type for a in parsed.attachments] == files
    assert parsed.defects == []


# -- the soak: a long round of random mutations ----------------------------------------------


def _soak_seconds() -> float:
    return float(os.environ.get("UKETSUKE_SOAK_SECONDS", "600")) if SOAK else 3.0


@pytest.mark.slow
def test_r29_soak_mutated_messages(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Random mutations for a while (3 s in ``make test``; ``make soak``: 600 s or
    UKETSUKE_SOAK_SECONDS); UKETSUKE_SOAK_SEED repeats a round."""
    seed = int(os.environ.get("UKETSUKE_SOAK_SEED", str(time.time_ns() % 2**32)))
    rng = random.Random(seed)
    choose = RandomChooser(rng)
    seeds = all_seeds(CORPUS)
    deadline = time.monotonic() + _soak_seconds()
    tried, failures = 0, []
    while time.monotonic() < deadline:
        data = mutate(seeds[rng.randrange(len(seeds))], choose, seeds)
        tried += 1
        try:
            check(data)
        except Exception as error:  # noqa: BLE001 - every escape is a finding
            path = tmp_path / f"failure-{len(failures)}.eml"
            path.write_bytes(data)
            failures.append(f"{path}: {traceback.format_exception_only(error)[-1].strip()}")
            if len(failures) >= 20:
                break
    with capsys.disabled():
        print(
            f"\nparse soak: {tried} inputs tried from {len(seeds)} seeds "
            f"(UKETSUKE_SOAK_SEED={seed}), {len(failures)} failing"
        )
    assert failures == []
