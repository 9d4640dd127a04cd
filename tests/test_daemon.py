"""``uketsuke run`` as systemd runs it, and killed at random moments (R29, R16;
docs/architecture.md, "Supervision")."""

from __future__ import annotations

import json
import os
import random
import re
import smtplib
import socket
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from intake import db
from intake.models import Incident, OutboxMail, RawMessage
from tests.daemon import Daemon, write_imap_config
from tests.mailmaker import FIELDS_BLOCK, make_mail


def status(daemon: Daemon) -> dict:
    result = daemon.cli("status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_ready_only_after_sockets_bound_and_sigterm_drains(daemon: Daemon) -> None:
    daemon.start()
    with socket.create_connection(("127.0.0.1", daemon.smtp_port), timeout=5) as sock:
        assert sock.recv(100).startswith(b"220 ")
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=10) as client:
        client.sendmail(
            "a@example.co.jp",
            ["support@example.jp"],
            make_mail(FIELDS_BLOCK + "\n質問です。\n", sender="a@example.co.jp"),
        )
    assert daemon.terminate() == 0
    assert "STOPPING=1" in daemon.messages(2)
    counts = status(daemon)
    assert counts["raw_messages"] == 1


def test_r30_refuses_to_start_without_schema(tmp_path: Path, database_url: str) -> None:
    home = tmp_path / "empty"
    home.mkdir()
    instance = Daemon(home, database_url)
    try:
        result = instance.cli("run")
        assert result.returncode == 2
        assert "init-db" in result.stderr and result.stderr.count("\n") == 1
    finally:
        instance.close()


class Sender(threading.Thread):
    """An MTA that retries until it gets 250, as real MTAs do (the daemon is being killed)."""

    def __init__(self, port: int, messages: list[tuple[str, bytes]]) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.pending = list(messages)
        self.accepted: set[str] = set()

    def run(self) -> None:
        deadline = time.monotonic() + 240
        while self.pending and time.monotonic() < deadline:
            message_id, data = self.pending[0]
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
                    while self.pending:
                        message_id, data = self.pending[0]
                        client.sendmail("customer@example.co.jp", ["support@example.jp"], data)
                        self.accepted.add(message_id)
                        self.pending.pop(0)
            except (OSError, smtplib.SMTPException):
                time.sleep(0.05)


def test_r29_r16_kill_9_at_random_moments_loses_and_doubles_nothing(daemon: Daemon) -> None:
    rng = random.Random(20261122)
    total = 500
    messages = []
    for n in range(total):
        message_id = f"<crash.{n}@customer.example.co.jp>"
        body = FIELDS_BLOCK + f"\n管理画面にログインできません（{n}）。\n"
        messages.append(
            (message_id, make_mail(body, sender=f"user{n}@example.co.jp", message_id=message_id))
        )
    daemon.start()
    sender = Sender(daemon.smtp_port, messages)
    sender.start()
    kills = 0
    while kills < 3 or (sender.is_alive() and kills < 6):  # also while processing/sending
        time.sleep(rng.uniform(0.2, 1.0))
        daemon.kill()
        kills += 1
        daemon.start()
    sender.join(240)
    assert not sender.pending, "the sender could not deliver everything"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        counts = daemon.progress()  # polled in-process: the daemon keeps both cores
        done = sum(counts[k] for k in ("held", "ignored", "unprocessable"))
        if counts["outbox"]["pending"] == 0 and counts["incidents"] + done >= total:
            break
        time.sleep(0.5)
    assert daemon.terminate() == 0
    assert kills >= 3

    engine = db.make_engine(daemon.database_url)
    with db.session_factory(engine)() as session:
        stored = session.execute(
            select(RawMessage.message_id, func.count()).group_by(RawMessage.message_id)
        ).all()
        assert {m for m, _ in stored} == sender.accepted  # every 250 is stored...
        assert all(n == 1 for _, n in stored)  # ...exactly once
        states = dict(
            session.execute(select(RawMessage.state, func.count()).group_by(RawMessage.state)).all()
        )
        assert states == {"processed": total}, states
        assert session.scalar(select(func.count()).select_from(Incident)) == total
        sent = session.scalars(select(OutboxMail.message_id).where(OutboxMail.state == "sent"))
        sent_ids = list(sent)
        assert len(sent_ids) == total == len(set(sent_ids))  # one acknowledgment each
    engine.dispose()
    maildir = daemon.home / "mail-out" / "new"
    files = list(maildir.iterdir())
    assert len(files) == total  # a re-delivered row replaced its own file, never doubled
    # The killed daemons' parse workers notice within a second and exit: polled, with a hang
    # guard far above that.
    deadline = time.monotonic() + 10
    while (orphans := orphaned_workers(daemon.home)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert orphans == []


def orphaned_workers(home: Path) -> list[int]:
    """Parse workers of the daemons of ``home`` whose daemon is gone (re-parented to init);
    another test's daemons, running beside this one, are not counted."""
    orphans = []
    marker = f"UKETSUKE_HOME={home}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if b"multiprocessing.spawn" in cmdline and ppid == 1 and marker in environ:
            orphans.append(int(entry.name))
    return orphans


def test_r29_imap_backlog_with_kill_9_stored_once_and_marked_after_commit(
    daemon: Daemon, fresh_dovecot
) -> None:
    total = 500
    config = write_imap_config(daemon.home / "uketsuke.toml", fresh_dovecot, batch_size=50)
    daemon.config = config
    message_ids = [f"<imap.{n}@customer.example.co.jp>" for n in range(total)]

    def deliver(numbers: range) -> None:
        for n in numbers:
            body = FIELDS_BLOCK + f"\nメールの送信ができません（{n}）。\n"
            data = make_mail(body, sender=f"imap{n}@example.co.jp", message_id=message_ids[n])
            fresh_dovecot.deliver(data)

    deliver(range(0, 300))
    rng = random.Random(7)
    daemon.start()
    late = threading.Thread(target=deliver, args=(range(300, total),), daemon=True)
    late.start()
    for _ in range(4):
        time.sleep(rng.uniform(0.3, 1.2))
        daemon.kill()
        daemon.start()
    late.join(120)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        counts = daemon.progress()  # polled in-process: the daemon keeps both cores
        if (
            counts["raw_messages"] >= total
            and counts["outbox"]["pending"] == 0
            and (counts["incidents"] >= total)
        ):
            break
        time.sleep(0.5)
    assert daemon.terminate() == 0
    engine = db.make_engine(daemon.database_url)
    with db.session_factory(engine)() as session:
        stored = dict(
            session.execute(
                select(RawMessage.message_id, func.count()).group_by(RawMessage.message_id)
            ).all()
        )
        assert set(stored) == set(message_ids)
        assert set(stored.values()) == {1}
        assert session.scalar(select(func.count()).select_from(Incident)) == total
    engine.dispose()
    client = fresh_dovecot.client()
    try:
        client.select_folder("INBOX")
        assert client.search(["UNKEYWORD", "$Uketsuke"]) == []  # all marked, after commit
    finally:
        client.logout()


def test_r26_logs_carry_numbers_never_bodies_or_full_addresses(daemon: Daemon) -> None:
    daemon.start()
    secret_body = "社外秘の設定値ABC123XYZについて"
    sender = "confidential.person@secret-customer.co.jp"
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=10) as client:
        client.sendmail(
            sender,
            ["support@example.jp"],
            make_mail(FIELDS_BLOCK + f"\n{secret_body}\n", sender=sender),
        )
        client.sendmail(
            sender, ["support@example.jp"], make_mail("顧客番号なしの問い合わせ\n", sender=sender)
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and daemon.progress()["outbox"]["sent"] < 2:
        time.sleep(0.3)
    assert daemon.terminate() == 0
    log = daemon.log.read_text(errors="replace")
    # Every line starts with its time and UTC offset (unambiguous wherever it is read).
    stamped = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4} (INFO|WARNING|ERROR|DEBUG) ")
    assert all(stamped.match(line) for line in log.splitlines() if line.strip()), log
    assert "raw 1" in log  # numbers are logged...
    assert secret_body not in log and "ABC123XYZ" not in log  # ...bodies never
    assert sender not in log and "confidential.person" not in log  # ...nor full addresses
    assert "山田" not in log and "C0123-4567" not in log


def test_r29_spooled_mail_survives_kill_9_after_its_250(daemon: Daemon) -> None:
    """Large mail lives in spool files: each 250 is followed at once by kill -9, and every
    message is still stored once, found in its file and processed after the restart. Partial
    files of transfers cut off long ago are swept at start; a recent one is left alone."""
    from tests.test_smtp_data import big_message

    tmp = daemon.home / "spool" / "tmp"
    tmp.mkdir(parents=True)
    stale, fresh = tmp / "stale.part", tmp / "fresh.part"
    stale.write_bytes(b"cut off")
    fresh.write_bytes(b"under way")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    messages = [big_message(2 << 20, f"<big.{n}@customer.example.com>") for n in range(3)]
    daemon.start()
    assert not stale.exists() and fresh.exists()
    for data in messages:
        with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=60) as client:
            client.sendmail("yamada@customer.example.com", ["support@example.jp"], data)
        daemon.kill()  # right after the 250
        daemon.start()
    deadline = time.monotonic() + 60
    while daemon.progress()["incidents"] < 3 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert daemon.terminate() == 0

    engine = db.make_engine(daemon.database_url)
    with db.session_factory(engine)() as session:
        rows = session.scalars(select(RawMessage).order_by(RawMessage.id)).all()
        assert [r.state for r in rows] == ["processed"] * 3
        assert all(r.data is None for r in rows)
        for row, data in zip(rows, messages, strict=True):
            assert (daemon.home / "spool" / row.spool).read_bytes() == data
        assert session.scalar(select(func.count()).select_from(Incident)) == 3
    engine.dispose()
