"""How often an incident's summary line is a greeting, on the generated Japanese corpus.

    .venv/bin/python bench/summary_greetings.py [--n 2000] [--seed 20240601] [--show 10]

Generates N messages with the corpus generator of the ``shared`` folder beside the checkout (the
same one ``bench/split_accuracy.py`` uses), parses each with ``intake.mail.parse.parse_message`` and
computes, for every inquiry, the summary line incidents, acknowledgments, staff notifications and
on-call pages show (``intake.summary.first_line``). A summary counts as a greeting when it is a
salutation, a thank-you, a self-introduction or a lead-in
(``下記の件についてお問い合わせいたします。``)
rather than the matter itself. The classifier below is the bench's own, written apart from the
product's rule so that the figure is not the rule measuring itself. Goal: 0.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAKE_CORPUS = ROOT.parent / "shared" / "tools" / "make_corpus.py"
sys.path.insert(0, str(ROOT))

from intake.mail.parse import parse_message  # noqa: E402
from intake.summary import first_line  # noqa: E402

#: What a summary that states no matter looks like (the bench's own list).
NOT_THE_MATTER = re.compile(
    r"世話になって|ありがとうございま|お疲れ様|申します|でございます|と申し|担当しております|"
    r"の[一-龥々ァ-ヶー]{1,6}(\s[一-龥々ァ-ヶー]{1,6})?です。?$|^初めて|^はじめまして|ご連絡いたしま|お問い合わせいたしま|"
    r"質問がございます|ご教示ください。?$|確認させていただきたく|^(下記|以下|表題)の"
)


def generate(n: int, seed: int, out: Path) -> list[Path]:
    if not MAKE_CORPUS.is_file():
        sys.exit(f"summary_greetings: {MAKE_CORPUS} not found; this bench needs the corpus tools")
    command = [sys.executable, str(MAKE_CORPUS), "--n", str(n), "--seed", str(seed)]
    subprocess.run([*command, "--out", str(out), "--only", "eml"], check=True, capture_output=True)
    return sorted((out / "eml").glob("*.eml"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--show", type=int, default=10, help="print this many greeting summaries")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = generate(args.n, args.seed, Path(folder))
        summaries = []
        for path in paths:
            parsed = parse_message(path.read_bytes())
            for inquiry in parsed.inquiries:
                summaries.append((path.name, first_line(inquiry.text, parsed.subject)))
    greetings = [(name, line) for name, line in summaries if NOT_THE_MATTER.search(line)]
    share = len(greetings) / len(summaries) if summaries else 0.0
    print(f"messages {len(paths)}  summaries {len(summaries)}  greetings {len(greetings)}")
    print(f"share of summaries that are a greeting: {share:.2%}")
    for name, line in greetings[: args.show]:
        print(f"  {name}: {line}")


if __name__ == "__main__":
    main()
