"""Coverage-guided fuzzing of the parser with atheris (optional; ``pip install atheris``).

    .venv/bin/python bench/fuzz_parse.py -max_total_time=300 [-atheris_runs=N] [DIR ...]

libFuzzer options pass through; DIRs are its corpus folders (new inputs are written to the
first). Each input is either parsed as it is (first byte even), or picks a seed message (the
built-in ones, and /work/shared/corpus when present) and mutates it with the choices of
tests/parsefuzz_mutate.py drawn from the input. Either way it must pass the tests' check
(R29): a ParsedMessage or NotAMessage, bounded time, JSON whose every string is UTF-8 and free
of control characters. A failure stops the run and writes ``crash-<sha1>`` with the input.
Without atheris this prints a note and exits 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

try:
    import atheris
except ImportError:
    print("atheris is not installed (pip install atheris): nothing to do")
    sys.exit(0)

with atheris.instrument_imports(include=["intake"]):
    from tests.parsefuzz_mutate import all_seeds, check, mutate

SEEDS = all_seeds(ROOT.parent / "shared" / "corpus")


class ProviderChooser:
    """Mutation choices read from libFuzzer's input, so coverage guides them too."""

    def __init__(self, provider: atheris.FuzzedDataProvider) -> None:
        self.provider = provider

    def integer(self, low: int, high: int) -> int:
        return self.provider.ConsumeIntInRange(low, high)


def one_input(data: bytes) -> None:
    if not data or data[0] % 2 == 0:
        check(data[1:])
        return
    choose = ProviderChooser(atheris.FuzzedDataProvider(data[1:]))
    check(mutate(SEEDS[choose.integer(0, len(SEEDS) - 1)], choose, SEEDS))


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
