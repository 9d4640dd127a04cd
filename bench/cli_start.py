"""Start-up time of the commands that need no daemon, against ``python -c "import email.parser"``.

Runs each command ``--runs`` times (default 15), interleaved round-robin with the baseline so that
a noisy neighbour slows all of them alike, and prints the median wall time of each and its ratio
to the baseline's median measured in the same run. The goal (README "Command line") is a ratio of
at most 6 for every command here. Exit status 1 when a ratio is over ``--limit`` (default 6).

    .venv/bin/python bench/cli_start.py [--runs 15] [--limit 6] [--source DIR]

``--source DIR`` measures another checkout (for example ``git archive`` of an older commit) with
this virtualenv: DIR goes first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)
UKETSUKE = PYTHON.with_name("uketsuke")
EXAMPLE = ROOT / "deploy" / "uketsuke.example.toml"
MAIL = (
    "From: 山田太郎 <yamada@customer.example.com>\r\nTo: support@example.jp\r\n"
    "Subject: =?UTF-8?B?44GK5ZWP44GE5ZCI44KP44Gb?=\r\nMessage-ID: <bench@customer.example.com>\r\n"
    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\n"
    "社名：株式会社サンプル\r\n氏名：山田太郎\r\nドメイン名：customer.example.com\r\n"
    "顧客番号：C0123-4567\r\n\r\n製品が起動しません。\r\n"
).encode()


def commands(mail: Path) -> dict[str, list[str]]:
    u = str(UKETSUKE)
    return {
        "baseline: python -c 'import email.parser'": [str(PYTHON), "-c", "import email.parser"],
        "uketsuke --help": [u, "--help"],
        "uketsuke calendar ... license-due": [
            u,
            "calendar",
            "--profile",
            "desknet",
            "license-due",
            "2026-11-24T17:00:01",
        ],
        "uketsuke support-period --accepted": [u, "support-period", "--accepted", "2026-11-22"],
        "uketsuke parse FILE.eml": [u, "parse", str(mail)],
        "uketsuke check-config --config example": [u, "check-config", "--config", str(EXAMPLE)],
    }


def wall(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode()[-300:]}")
    return elapsed


def measure(runs: int, source: Path | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        mail = home / "bench.eml"
        mail.write_bytes(MAIL)
        env = {k: v for k, v in os.environ.items() if not k.startswith("UKETSUKE_")}
        env["UKETSUKE_HOME"] = str(home / "var")
        if source is not None:
            env["PYTHONPATH"] = str(source.resolve())
        table = commands(mail)
        for argv in table.values():  # warm the page cache and the .pyc files
            wall(argv, env, home)
        times: dict[str, list[float]] = {name: [] for name in table}
        for _ in range(runs):
            for name, argv in table.items():
                times[name].append(wall(argv, env, home))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (>= 10)")
    parser.add_argument("--limit", type=float, default=6.0, help="the ratio not to exceed")
    parser.add_argument("--source", type=Path, help="measure this checkout instead")
    args = parser.parse_args()
    if args.runs < 10:
        parser.error("--runs must be at least 10")
    medians = measure(args.runs, args.source)
    names = list(medians)
    baseline = medians[names[0]]
    python = sys.version.split()[0]
    print(f"median wall time over {args.runs} runs, {os.cpu_count()} CPUs, Python {python}")
    print(f"{'command':<44} {'ms':>7} {'ratio':>6}")
    over = []
    for name in names:
        ratio = medians[name] / baseline
        print(f"{name:<44} {medians[name] * 1000:7.1f} {ratio:6.2f}")
        if name != names[0] and ratio > args.limit:
            over.append(name)
    if over:
        print(f"over {args.limit:g}x: {', '.join(over)}")
        return 1
    print(f"all within {args.limit:g}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
