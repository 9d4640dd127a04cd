"""``uketsuke backup DEST`` (issue 15): a consistent copy of a running SQLite installation,
taken under SMTP load, restores into a daemon that loses nothing (docs/operations.md, "Backups")."""

from __future__ import annotations

import json
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from tests.daemon import Daemon
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.test_daemon import Sender, status
from tests.test_smtp_data import big_message


def test_r29_backup_under_load_restores_with_nothing_lost(daemon, tmp_path: Path) -> None:
    if not daemon.database_url.startswith("sqlite"):
        pytest.skip("SQLite's backup: PostgreSQL is backed up with pg_dump")
    messages = [
        (
            f"<backup.{n}@customer.example.co.jp>",
            make_mail(
                FIELDS_BLOCK + f"\nログインできません（{n}）。\n",
                message_id=f"<backup.{n}@customer.example.co.jp>",
            ),
        )
        for n in range(150)
    ]
    messages.insert(20, ("<big.backup@customer.example.com>", big_message(
        2 << 20, "<big.backup@customer.example.com>"
    )))  # fmt: skip
    daemon.start()
    sender = Sender(daemon.smtp_port, messages)
    sender.start()
    while len(sender.accepted) < 40:
        time.sleep(0.05)
    dest = tmp_path / "backup"
    result = daemon.cli("backup", str(dest))  # while mail comes in and is processed
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("backed up ")
    sender.join(120)
    assert daemon.terminate() == 0

    copy = sqlite3.connect(dest / "uketsuke.db")
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stored = copy.execute("SELECT count(*) FROM raw_messages").fetchone()[0]
    spooled = [name for (name,) in copy.execute("SELECT spool FROM raw_messages") if name]
    copy.close()
    assert 40 <= stored <= len(messages)
    for name in spooled:  # every spool file the copied database names is in the copy
        assert (dest / "spool" / name).is_file()
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    for key in ("web-secret.key", "staff-reply.key"):  # links and tokens already sent stay valid
        if (daemon.home / key).exists():
            assert (dest / key).read_bytes() == (daemon.home / key).read_bytes()
    assert stat.S_IMODE((dest / "uketsuke.db").stat().st_mode) == 0o600

    # Restore: the copy as the home and database of a new daemon, which finishes its work.
    home = tmp_path / "restored"
    home.mkdir()
    for item in dest.iterdir():
        target = home / item.name
        item.rename(target)
    restored = Daemon(home, f"sqlite:///{home / 'uketsuke.db'}")
    try:
        restored.start()
        deadline = time.monotonic() + 60  # a hang guard
        while True:
            counts = restored.progress()  # polled in-process; the command once it is done
            if counts["incidents"] >= stored and counts["outbox"]["pending"] == 0:
                break
            assert time.monotonic() < deadline, counts
            time.sleep(0.3)
        counts = status(restored)
        assert counts["raw_messages"] == stored
        assert counts["unprocessable"] == 0
        assert restored.terminate() == 0
    finally:
        restored.close()


def test_r30_backup_refuses_a_folder_in_use_and_names_pg_dump_for_postgresql(
    cli, tmp_path: Path
) -> None:
    cli.initialized()
    result = cli("backup", str(tmp_path))  # holds the test's files: not empty
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    if cli.database_url.startswith("postgresql"):
        assert "pg_dump" in result.stderr
    else:
        assert "is not empty" in result.stderr
        fresh = cli("backup", str(tmp_path / "new"))
        assert fresh.returncode == 0, fresh.stderr
        assert json.loads(cli("status", "--json").stdout)["raw_messages"] == 0
