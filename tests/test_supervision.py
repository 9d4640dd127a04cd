"""The processor supervised (docs/architecture.md, "Supervision"), through the real daemon:
``kill -9`` of the processor or of its parse worker under load loses, doubles and freezes
nothing; a poison message is set aside alone after 3 attempts (R29); a processor that keeps
dying makes the daemon exit 1 for systemd."""

from __future__ import annotations

import json
import os
import re
import signal
import smtplib
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from intake import db
from intake.attempts import MAX_ATTEMPTS
from intake.models import Incident, OutboxMail, RawMessage
from intake.processor_handle import HEALTH_STALE_SECONDS
from tests.daemon import Daemon
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.test_daemon import Sender, status

POISON = "POISON-7f3a"


def mails(total: int, tag: str, poison: set[int] = frozenset()) -> list[tuple[str, bytes]]:
    out = []
    for n in range(total):
        message_id = f"<{tag}.{n}@customer.example.co.jp>"
        headers = {"X-Test": POISON} if n in poison else None
        body = FIELDS_BLOCK + f"\nログインできません（{tag} {n}）。\n"
        out.append(
            (
                message_id,
                make_mail(
                    body, sender=f"u{n}@example.co.jp", message_id=message_id, headers=headers
                ),
            )
        )
    return out


def published(daemon: Daemon) -> dict:
    return json.loads((daemon.home / "processor.json").read_text())


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def healthz(daemon: Daemon) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{daemon.web_port}/healthz", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def greeting_seconds(port: int) -> float:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        assert sock.recv(100).startswith(b"220 ")
    return time.monotonic() - started


def wait_until_done(daemon: Daemon, total: int, seconds: float) -> dict:
    """``uketsuke status --json`` once every message is an incident or set aside and the
    outbox is empty (polled in-process with ``Daemon.progress``), or after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        counts = daemon.progress()
        finished = counts["incidents"] + counts["unprocessable"] >= total
        if finished and counts["outbox"]["pending"] == 0 or time.monotonic() > deadline:
            return status(daemon)
        time.sleep(0.3)


def one_incident_and_ack_each(daemon: Daemon, accepted: set[str]) -> None:
    engine = db.make_engine(daemon.database_url)
    try:
        with db.session_factory(engine)() as session:
            stored = session.execute(
                select(RawMessage.message_id, func.count()).group_by(RawMessage.message_id)
            ).all()
            assert {m for m, _ in stored} == accepted  # every 250 is stored...
            assert all(n == 1 for _, n in stored)  # ...exactly once
            assert session.scalar(select(func.count()).select_from(Incident)) == len(accepted)
            acks = list(
                session.scalars(
                    select(OutboxMail.message_id).where(
                        OutboxMail.kind == "ack", OutboxMail.state == "sent"
                    )
                )
            )
            assert len(acks) == len(accepted) == len(set(acks))
    finally:
        engine.dispose()


class Watch(threading.Thread):
    """/healthz and the SMTP greeting, sampled while the processor is killed."""

    def __init__(self, daemon: Daemon) -> None:
        super().__init__(daemon=True)
        self.daemon_ = daemon
        self.done = threading.Event()
        self.health: list[tuple[int, str]] = []
        self.greetings: list[float] = []

    def run(self) -> None:
        while not self.done.is_set():
            self.health.append(healthz(self.daemon_))
            self.greetings.append(greeting_seconds(self.daemon_.smtp_port))
            time.sleep(0.02)


def kill_during_burst(daemon: Daemon, messages: list[tuple[str, bytes]], victim: int) -> Sender:
    """``kill -9`` of one processor process while ``messages`` are being sent: a new one within
    15 s, the greeting always within 2 s, /healthz 503 ``processor: …`` meanwhile. Returns the
    finished sender."""
    sender = Sender(daemon.smtp_port, messages)
    sender.start()
    while len(sender.accepted) < 40:
        time.sleep(0.05)
    watch = Watch(daemon)
    watch.start()
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    # A new processor within 10 s, and processing again (a heartbeat) within 15 s.
    deadline = killed_at + 15
    while time.monotonic() < deadline:
        state = published(daemon)
        pids = state.get("processor_pids") or [state["processor_pid"]]
        if victim not in pids and state["alive"] and healthz(daemon)[0] == 200:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"no live processor 15 s after kill -9: {daemon.tail()}")
    sender.join(120)
    watch.done.set()
    watch.join(30)
    assert not sender.pending
    # Not a speed check: without supervision the greeting never came (the doors froze on the
    # dead processor); the bound for "answering" is 2 s.
    assert max(watch.greetings) < 2.0
    codes = [code for code, _ in watch.health]
    assert 503 in codes  # while it was down...
    down = {text for code, text in watch.health if code == 503}
    assert all(text.startswith("processor: ") for text in down), down
    return sender


def test_r29_kill_9_of_the_processor_under_load_freezes_and_loses_nothing(
    daemon: Daemon,
) -> None:
    daemon.start()
    assert healthz(daemon) == (200, "ok\n")
    messages = mails(200, "proc")
    sender = kill_during_burst(daemon, messages, published(daemon)["processor_pid"])
    counts = wait_until_done(daemon, len(messages), 120)
    assert counts["processor"]["alive"] and counts["processor"]["restarts"] == 1
    assert counts["processor"]["heartbeat_age_s"] < HEALTH_STALE_SECONDS
    assert healthz(daemon) == (200, "ok\n")  # ...and ok again
    assert daemon.terminate() == 0
    one_incident_and_ack_each(daemon, sender.accepted)
    # "processor 1 of 2 exited …" where PostgreSQL runs two (tests/test_processors.py).
    restarted = r"processor( 1 of 2)? exited \(code -9\); restarting it"
    assert re.search(restarted, daemon.log.read_text())


def test_r29_kill_9_of_the_parse_worker_is_replaced_and_loses_nothing(daemon: Daemon) -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: the processor parses without a worker")
    # One processor, which has the parse worker (several processors parse themselves).
    daemon.config = daemon.home / "one-processor.toml"
    daemon.config.write_text("[intake]\nprocessors = 1\n", encoding="utf-8")
    daemon.start()
    processor = published(daemon)["processor_pid"]
    deadline = time.monotonic() + 30
    while not (workers := children(processor)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers, "no parse worker"
    messages = mails(150, "worker")
    sender = Sender(daemon.smtp_port, messages)
    sender.start()
    while len(sender.accepted) < 30:
        time.sleep(0.05)
    for worker in workers:
        os.kill(worker, signal.SIGKILL)
    sender.join(120)
    assert not sender.pending
    counts = wait_until_done(daemon, len(messages), 120)
    assert counts["incidents"] == len(messages), counts
    assert published(daemon)["processor_pid"] == processor  # the processor itself lived on
    deadline = time.monotonic() + 15
    while not (fresh := children(processor)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert fresh and not set(fresh) & set(workers)  # a new worker
    assert daemon.terminate() == 0
    one_incident_and_ack_each(daemon, sender.accepted)
    assert "parse worker died; starting a new one" in daemon.log.read_text()


def raw_rows(daemon: Daemon) -> list[RawMessage]:
    engine = db.make_engine(daemon.database_url)
    try:
        with db.session_factory(engine)() as session:
            return list(session.scalars(select(RawMessage).order_by(RawMessage.id)))
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["raise", "kill"])
def test_r29_poison_message_is_set_aside_alone_after_3_attempts(
    daemon: Daemon, kind: str
) -> None:
    """``raise``: an exception outside the message's SAVEPOINT (a bug at commit time);
    ``kill``: the message kills the processor (the kernel's OOM killer). Either way the
    message is tried 3 times, set aside ``unprocessable``, and its batch is processed."""
    daemon.extra_env = {"UKETSUKE_TESTING": "1", "UKETSUKE_TEST_FAULT": f"{kind}:{POISON}"}
    messages = mails(20, kind, poison={7})
    # Stored before the daemon starts: they are one batch.
    daemon.start()
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=30) as client:
        for _, data in messages:
            client.sendmail("customer@example.co.jp", ["support@example.jp"], data)
    counts = wait_until_done(daemon, len(messages), 90)
    assert counts["incidents"] == 19 and counts["unprocessable"] == 1, counts
    assert healthz(daemon) == (200, "ok\n")
    held = daemon.cli("held", "list", "--json")
    assert held.returncode == 0, held.stderr
    assert POISON not in held.stdout  # the list names the message, not its text
    assert daemon.terminate() == 0
    rows = raw_rows(daemon)
    [poison] = [row for row in rows if row.state == "unprocessable"]
    assert poison.message_id == messages[7][0]
    assert poison.attempts == MAX_ATTEMPTS
    expected = "InjectedFault" if kind == "raise" else "Interrupted"
    assert poison.last_error.startswith(expected), poison.last_error
    assert {row.attempts for row in rows if row.state == "processed"} <= {1, 2}
    log = daemon.log.read_text()
    assert POISON not in log
    assert f"raw {poison.id} unprocessable after {MAX_ATTEMPTS} attempts" in log
    if kind == "kill":
        assert published(daemon)["restarts"] == MAX_ATTEMPTS


def test_r29_a_processor_that_keeps_dying_makes_the_daemon_exit_1(daemon: Daemon) -> None:
    """More than 5 restarts within 10 minutes: one error line, exit 1, systemd restarts."""
    daemon.extra_env = {"UKETSUKE_TESTING": "1", "UKETSUKE_TEST_FAULT": f"kill:{POISON}"}
    daemon.start()
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=30) as client:
        for _, data in mails(6, "dying", poison={1, 3, 5}):
            client.sendmail("customer@example.co.jp", ["support@example.jp"], data)
    assert daemon.process is not None
    assert daemon.process.wait(120) == 1
    log = daemon.log.read_text()
    assert log.count("times within 10 minutes and died again; giving up") == 1


def test_systemd_watchdog_is_fed_only_while_the_processor_beats(daemon) -> None:
    """WATCHDOG=1 (WatchdogSec= in the unit) comes from the supervisor: it stops when the
    processor hangs (SIGSTOP: alive, but no heartbeat), so systemd would restart the service,
    and comes back when the processor does."""
    # A ping at least every 0.5 s (each second); the heartbeat stale after 5 s instead of 30.
    daemon.extra_env = {
        "WATCHDOG_USEC": "1000000",
        "UKETSUKE_TESTING": "1",
        "UKETSUKE_TEST_HEALTH_STALE_SECONDS": "5",
    }
    daemon.start()
    daemon.wait_for_heartbeat()
    assert "WATCHDOG=1" in daemon.messages(3)
    processor = published(daemon)["processor_pid"]
    os.kill(processor, signal.SIGSTOP)
    try:
        # Until the heartbeat is stale (HEALTH_STALE_SECONDS after the last beat): /healthz
        # judges by the same liveness as the watchdog. A hang guard, not a limit.
        deadline = time.monotonic() + 5 + 30
        while healthz(daemon)[0] == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        daemon.messages(0.5)  # what was sent before the heartbeat went stale
        assert "WATCHDOG=1" not in daemon.messages(3)
        code, text = healthz(daemon)
        assert code == 503 and text.startswith("processor: no heartbeat for ")
    finally:
        os.kill(processor, signal.SIGCONT)
    assert "WATCHDOG=1" in daemon.messages(5)
    assert daemon.terminate() == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_the_whole_process_group_stops_the_daemon_quietly(
    daemon: Daemon, signum: signal.Signals
) -> None:
    """Ctrl-C of ``make run`` in a terminal (SIGINT) and ``timeout`` (SIGTERM) signal the whole
    process group: the processor and its parse worker leave the stop to the main process, which
    drains them; no traceback, no leaked semaphore on the way out, exit 0."""
    daemon.new_session = True
    daemon.start()
    daemon.wait_for_heartbeat()
    assert daemon.process is not None
    os.killpg(daemon.process.pid, signum)
    assert daemon.process.wait(60) == 0
    log = daemon.log.read_text(errors="replace")
    assert f"signal {signum.name}: draining" in log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log
    assert "leaked" not in log


def test_status_of_a_dead_daemons_processor_file_says_no_processes(tmp_path: Path) -> None:
    """``status --json``'s processor after the daemon died without cleaning up (kill -9): its
    last ``processor.json`` names two live processors, but none runs: not alive, 0 processes."""
    from intake.processor_handle import STATE_FILE, read_published

    record = {
        "daemon_pid": 999_999_999,  # above any pid_max: no such process
        "processor_pid": 1,
        "processor_pids": [1, 2],
        "written_at": time.time(),
        "alive": True,
        "heartbeat_at": time.time(),
        "restarts": 0,
        "processes": 2,
        "problem": None,
    }
    (tmp_path / STATE_FILE).write_text(json.dumps(record), encoding="utf-8")
    state = read_published(tmp_path)
    assert state["alive"] is False and state["processes"] == 0
