"""R3 split accuracy on the generated Japanese corpus, and the cost of splitting, in one run.

    .venv/bin/python bench/split_accuracy.py [--n 2000] [--seed 20240601] [--rounds 3]
                                             [--baseline REV]

Generates N messages with ../shared/tools/make_corpus.py into a temporary folder (fixed seed),
parses every message with ``intake.mail.parse.parse_message`` (default ParseContext: the originals
carry no tag) and, for every original (non-reply) message, compares ``len(parsed.inquiries)`` with
the manifest's ``questions``. Misses are broken down into too many / too few, by expected → got,
with a few manifest indexes each.

When ``--baseline REV`` names a git revision (default: the last commit before the R3 problem-report
rule), its ``intake/mail/split.py`` is loaded beside the working tree's and swapped into the parser,
so the before and after figures — accuracy, parse time of all N messages and split time alone — come
from the same run on the same machine. Timings are the best of ``--rounds`` interleaved rounds.
``--baseline none`` measures the working tree only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MAKE_CORPUS = SHARED / "tools" / "make_corpus.py"
#: The last commit whose split.py merged a problem-report item into the next question.
DEFAULT_BASELINE = "be6d376"
EXAMPLES = 5
sys.path.insert(0, str(ROOT))

from intake.mail import parse as parse_module  # noqa: E402
from intake.mail import split as split_module  # noqa: E402
from intake.mail.layout import analyse_layout  # noqa: E402

Splitter = Callable[[str], list[str]]


@dataclass
class Message:
    index: int
    data: bytes
    questions: int | None  # None for a reply (not scored)


@dataclass
class Score:
    hits: int = 0
    total: int = 0
    by_pair: Counter[tuple[int, int]] = field(default_factory=Counter)
    examples: dict[tuple[int, int], list[int]] = field(default_factory=dict)

    def miss(self, expected: int, got: int, index: int) -> None:
        self.by_pair[(expected, got)] += 1
        self.examples.setdefault((expected, got), [])
        if len(self.examples[(expected, got)]) < EXAMPLES:
            self.examples[(expected, got)].append(index)


def generate(n: int, seed: int, out: Path) -> list[Message]:
    """The corpus in order, each message with its manifest's question count."""
    if not MAKE_CORPUS.is_file():
        sys.exit(f"split_accuracy: {MAKE_CORPUS} not found; this bench needs /work/shared")
    command = [sys.executable, str(MAKE_CORPUS), "--n", str(n), "--seed", str(seed)]
    subprocess.run([*command, "--out", str(out), "--only", "eml"], check=True, capture_output=True)
    messages = []
    with (out / "manifest.jsonl").open(encoding="utf-8") as manifest:
        for line in manifest:
            row = json.loads(line)
            data = (out / "eml" / f"{row['index']:06d}.eml").read_bytes()
            questions = None if row["is_reply"] else int(row["questions"])
            messages.append(Message(row["index"], data, questions))
    return messages


def baseline_splitter(revision: str) -> Splitter | None:
    """``split_inquiries`` as it was at ``revision`` (loaded from git, not imported)."""
    if revision == "none":
        return None
    shown = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:intake/mail/split.py"],
        capture_output=True,
        text=True,
    )
    if shown.returncode != 0:
        sys.exit(f"split_accuracy: cannot read split.py at {revision}: {shown.stderr.strip()}")
    module = types.ModuleType(f"split_at_{revision}")
    module.__dict__["__name__"] = module.__name__
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(shown.stdout, f"{revision}:intake/mail/split.py", "exec"), module.__dict__)
    return module.split_inquiries


def score(messages: list[Message], splitter: Splitter) -> Score:
    calls = 0

    def counted(text: str) -> list[str]:
        nonlocal calls
        calls += 1
        return splitter(text)

    parse_module.split_inquiries = counted
    result = Score()
    for message in messages:
        if message.questions is None:
            continue
        got = len(parse_module.parse_message(message.data).inquiries)
        result.total += 1
        if got == message.questions:
            result.hits += 1
        else:
            result.miss(message.questions, got, message.index)
    if not calls:
        sys.exit("split_accuracy: parse_message no longer calls parse.split_inquiries; update me")
    return result


def parse_seconds(messages: list[Message], splitter: Splitter) -> float:
    parse_module.split_inquiries = splitter
    start = time.perf_counter()
    for message in messages:
        parse_module.parse_message(message.data)
    return time.perf_counter() - start


def split_seconds(texts: list[str], splitter: Splitter) -> float:
    start = time.perf_counter()
    for text in texts:
        splitter(text)
    return time.perf_counter() - start


def report_score(name: str, result: Score) -> None:
    share = 100 * result.hits / result.total
    print(f"\n{name}: {result.hits} of {result.total} originals right ({share:.1f}%)")
    too_many = sum(c for (e, g), c in result.by_pair.items() if g > e)
    too_few = sum(c for (e, g), c in result.by_pair.items() if g < e)
    print(f"  misses: {too_many} too many, {too_few} too few")
    for (expected, got), count in sorted(result.by_pair.items()):
        ids = ", ".join(str(i) for i in result.examples[(expected, got)])
        print(f"  expected {expected}, got {got}: {count} (e.g. {ids})")


def report_times(variants: dict[str, Splitter], messages: list[Message], rounds: int) -> None:
    texts = [
        analyse_layout(
            parse_module.parse_message(m.data).body[: parse_module.MAX_BODY_CHARS]
        ).new_text
        for m in messages
    ]
    best_parse = dict.fromkeys(variants, float("inf"))
    best_split = dict.fromkeys(variants, float("inf"))
    for _ in range(rounds):
        for name, splitter in variants.items():
            best_parse[name] = min(best_parse[name], parse_seconds(messages, splitter))
            best_split[name] = min(best_split[name], split_seconds(texts, splitter))
    print(f"\ntimes, best of {rounds} interleaved rounds, all {len(messages)} messages:")
    print("| split.py | parse total s | messages/s | split alone ms | µs/message |")
    print("|---|---|---|---|---|")
    for name in variants:
        parse_s, split_s = best_parse[name], best_split[name]
        print(
            f"| {name} | {parse_s:.3f} | {len(messages) / parse_s:.0f} | {split_s * 1000:.1f} "
            f"| {split_s * 1e6 / len(messages):.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision, or none")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"split_accuracy: {SHARED} is absent; this bench needs the shared corpus tools")
    variants: dict[str, Splitter] = {}
    baseline = baseline_splitter(args.baseline)
    if baseline is not None:
        variants[f"baseline {args.baseline}"] = baseline
    variants["working tree"] = split_module.split_inquiries
    with tempfile.TemporaryDirectory(prefix="uketsuke-split-") as folder:
        messages = generate(args.n, args.seed, Path(folder))
    originals = sum(m.questions is not None for m in messages)
    print(
        f"corpus: make_corpus.py --n {args.n} --seed {args.seed}: {len(messages)} messages, "
        f"{originals} originals scored"
    )
    for name, splitter in variants.items():
        report_score(name, score(messages, splitter))
    report_times(variants, messages, args.rounds)
    parse_module.split_inquiries = split_module.split_inquiries


if __name__ == "__main__":
    main()
