"""The parser soak (R29): at least 1,000,000 mutated inputs, every corpus message mutated in
turn, on every core; nothing but a ParsedMessage or NotAMessage comes out.

Runs only in ``make soak`` (``UKETSUKE_SOAK=1``), where the corpus (../shared/corpus) must be
present. ``UKETSUKE_SOAK_FUZZ_INPUTS`` sets the number of inputs (default 1,000,000),
``UKETSUKE_SOAK_SEED`` repeats a round. Failing inputs are written to the test's temporary
folder and named in the report.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import time
import traceback
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.parsefuzz_mutate import RandomChooser, all_seeds, check, corpus_seeds, mutate

SOAK = os.environ.get("UKETSUKE_SOAK") == "1"
CORPUS = SHARED / "corpus"
MAX_FAILURES = 20  # per worker: enough to report, without filling the disk

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SOAK, reason="a soak: make soak (UKETSUKE_SOAK=1)"),
]


def fuzz_slice(worker: int, workers: int, total: int, seed: int, out: str) -> tuple[int, list[str]]:
    """Inputs ``worker``, ``worker + workers``, … below ``total``: input k mutates seed message
    k mod (number of seeds), so every message is mutated as often as every other."""
    seeds = all_seeds(CORPUS)
    choose = RandomChooser(random.Random(f"{seed}:{worker}"))
    tried, failures = 0, []
    for k in range(worker, total, workers):
        data = mutate(seeds[k % len(seeds)], choose, seeds)
        tried += 1
        try:
            check(data)
        except Exception as error:  # noqa: BLE001 - every escape is a finding
            path = Path(out) / f"failure-{worker}-{len(failures)}.eml"
            path.write_bytes(data)
            failures.append(f"{path}: {traceback.format_exception_only(error)[-1].strip()}")
            if len(failures) >= MAX_FAILURES:
                break
    return tried, failures


def test_r29_soak_a_million_mutations_of_every_corpus_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    corpus = corpus_seeds(CORPUS)
    assert corpus, f"the soak needs the corpus at {CORPUS}"
    total = int(os.environ.get("UKETSUKE_SOAK_FUZZ_INPUTS", "1000000"))
    seed = int(os.environ.get("UKETSUKE_SOAK_SEED", str(time.time_ns() % 2**32)))
    workers = max(1, os.cpu_count() or 1)
    seeds = all_seeds(CORPUS)
    started = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        results = pool.starmap(
            fuzz_slice, [(w, workers, total, seed, str(tmp_path)) for w in range(workers)]
        )
    seconds = time.monotonic() - started
    tried = sum(n for n, _ in results)
    failures = [f for _, found in results for f in found]
    with capsys.disabled():
        print(
            f"\nparse fuzz soak: {tried} inputs from {len(seeds)} seed messages "
            f"({len(corpus)} of the corpus), {workers} processes, {seconds:.0f} s, "
            f"{tried / seconds:.0f} inputs/s, {len(failures)} failing "
            f"(UKETSUKE_SOAK_SEED={seed})"
        )
    assert failures == [], "\n".join(failures)
    assert tried == total  # nothing stopped early
    assert tried >= len(seeds)  # every seed message mutated at least once
