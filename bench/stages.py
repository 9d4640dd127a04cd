"""Where the processor's CPU goes, per message and per stage (issue 14; bench/intake.md).

    .venv/bin/python bench/stages.py [--n 2000] [--checkout DIR]

N corpus messages (../shared/tools/make_corpus.py) are stored in a fresh SQLite database as the
SMTP door stores them, then drained by one in-process ``Processor`` without a parse worker
(parsing is one of the stages). The drain runs twice on two copies of the backlog: once plain,
for the real CPU time per message, and once under cProfile, whose cumulative times split that
CPU time into stages (each stage's share of the profiled total, times the real total: the
profiler's own overhead is spread evenly). The SQLite search index, which is filled after
processing (migration 0010), is measured apart: the CPU of ``catch_up`` after the drain.

``--checkout DIR`` measures another checkout of the code (``git worktree add``) with the same
corpus, for before/after figures.
"""

from __future__ import annotations

import argparse
import cProfile
import email.utils
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Stage -> the functions (file suffix, name) whose cumulative time it is; stages do not nest.
STAGES: list[tuple[str, list[tuple[str, str]]]] = [
    ("parse", [("intake/mail/parse.py", "parse_message")]),
    ("route (web, bounce, automatic, staff, fax steps)", [
        ("intake/steps/web.py", "web"),
        ("intake/steps/route.py", "bounce"),
        ("intake/steps/route.py", "automatic"),
        ("intake/steps/staff.py", "staff"),
        ("intake/steps/fax.py", "fax"),
    ]),
    ("follow-ups (join, staff told)", [("intake/steps/thread.py", "follow_up")]),
    ("identify (R1, R2)", [("intake/accept.py", "_identify")]),
    ("hold and ask (R2)", [("intake/accept.py", "_hold")]),
    ("incidents (R3, R4)", [("intake/incidents.py", "create_incidents")]),
    ("acknowledgment into the outbox (R10)", [("intake/accept.py", "_acknowledge")]),
    ("after accept: key mail (R14)", [("intake/licensing.py", "license_requests")]),
    ("after accept: staff notification (R20)", [
        ("responder/staffnotify.py", "notify_staff_of_new_incidents"),
    ]),
    ("after accept: on-call page (R22)", [("scheduler/oncall.py", "page_oncall")]),
]


def corpus(n: int, work: Path) -> list[bytes]:
    from corpus import make_corpus  # bench/corpus.py (bench/ is the script's folder)

    return [
        p.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        for p in make_corpus(n, work / "corpus")
    ]


def backlog(messages: list[bytes], home: Path):  # noqa: ANN201
    from intake import db
    from intake.config import load_config
    from intake.pipeline import Pipeline
    from intake.processor import Processor
    from intake.spool import spool_dir
    from intake.store import Incoming, store_raw_many
    from scheduler.clock import SystemClock

    home.mkdir(parents=True)
    engine = db.make_engine(f"sqlite:///{home / 'uketsuke.db'}", autocheckpoint=False)
    db.upgrade(engine)
    sessions = db.session_factory(engine)
    items = []
    for data in messages:
        head = email.message_from_bytes(data[:8000])
        sender = email.utils.parseaddr(head.get("From", ""))[1]
        items.append(Incoming(data, None, "smtp", "helpdesk", sender, ("support@example.jp",)))
    for first in range(0, len(items), 20):
        store_raw_many(sessions, items[first : first + 20], spool_dir(home))
    config = load_config(None, env={"UKETSUKE_HOME": str(home)})
    return engine, Processor(Pipeline(config, sessions), SystemClock(), workers=0)


def cumulative(stats: pstats.Stats, wanted: list[tuple[str, str]]) -> float:
    total = 0.0
    for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        if any(filename.endswith(suffix) and name == fn for suffix, fn in wanted):
            total += row[3]
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--checkout", type=Path, default=ROOT)
    args = parser.parse_args()
    sys.path.insert(0, str(args.checkout.resolve()))
    work = Path(tempfile.mkdtemp(prefix="uk-stages-"))
    try:
        messages = corpus(args.n, work)
        engine, processor = backlog(messages, work / "plain")
        started = time.process_time()
        done = processor.drain(None)
        cpu = (time.process_time() - started) / done
        index_cpu = None
        try:  # a checkout before migration 0010 indexes inside the processor's transaction
            from intake.searchindex import catch_up
        except ImportError:
            pass
        else:
            started = time.process_time()
            catch_up(engine)
            index_cpu = (time.process_time() - started) / done
        engine.dispose()

        engine, processor = backlog(messages, work / "profiled")
        profile = cProfile.Profile()
        profile.enable()
        profiled_done = processor.drain(None)
        profile.disable()
        engine.dispose()
        stats = pstats.Stats(profile)
        drain = cumulative(stats, [("intake/processor.py", "drain")])
        print(f"{done} messages ({profiled_done} profiled); code {args.checkout}")
        print(f"processor CPU {cpu * 1000:.2f} ms a message (no profiler, no parse worker)\n")
        print("| stage | ms a message | share |")
        print("|---|---|---|")
        rest = 1.0
        for stage, functions in STAGES:
            share = cumulative(stats, functions) / drain
            rest -= share
            print(f"| {stage} | {share * cpu * 1000:.2f} | {share:.0%} |")
        rest_ms = rest * cpu * 1000
        print(f"| transactions, attempts, batches, the rest | {rest_ms:.2f} | {rest:.0%} |")
        print(f"| **total on the intake path** | **{cpu * 1000:.2f}** | 100% |")
        if index_cpu is not None:
            ms = index_cpu * 1000
            print(f"| search index, filled afterwards (not on the path) | {ms:.2f} | |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
