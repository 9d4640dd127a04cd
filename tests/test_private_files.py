"""R26, issue 15: what uketsuke writes (database, spool, outgoing Maildir with license keys) is
its user's alone, whoever starts it, and an older version's readable files are narrowed."""

from __future__ import annotations

import smtplib
import stat
import time
from pathlib import Path

from tests.mailmaker import FIELDS_BLOCK, make_mail


def sqlite_path(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def wait_for_mail(maildir: Path) -> list[Path]:
    deadline = time.monotonic() + 60  # a hang guard: the outbox sends within seconds
    while time.monotonic() < deadline:
        files = list((maildir / "new").glob("*")) if (maildir / "new").exists() else []
        if files:
            return files
        time.sleep(0.2)
    raise AssertionError("no mail was written to the Maildir")


def test_r26_what_the_daemon_creates_is_private(daemon) -> None:
    daemon.home.chmod(0o755)  # as a test's (or an operator's) mkdir leaves it
    daemon.start()
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=30) as client:
        client.sendmail(
            "yamada@example.co.jp",
            ["support@example.jp"],
            make_mail(FIELDS_BLOCK + "\nライセンスキーの再発行をお願いします。\n"),
        )
    mails = wait_for_mail(daemon.home / "mail-out")
    assert daemon.terminate() == 0
    assert mode(daemon.home) == 0o700
    assert all(mode(mail) == 0o600 for mail in mails)
    for folder in (daemon.home / "mail-out", daemon.home / "mail-out" / "new"):
        assert mode(folder) == 0o700
    database = sqlite_path(daemon.database_url)
    if database is not None:
        assert mode(database) == 0o600
    for path in daemon.home.rglob("*"):
        if path != daemon.log:  # the test's own capture of the daemon's output
            assert mode(path) & 0o077 == 0, path


def test_r26_an_older_versions_readable_files_are_narrowed_at_start(daemon) -> None:
    old = daemon.home / "mail-out" / "new"
    old.mkdir(parents=True)
    (old / "1.eml").write_bytes(b"Subject: key\r\n\r\nABCD-EFGH\r\n")
    for path in (daemon.home, daemon.home / "mail-out", old, old / "1.eml"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    database = sqlite_path(daemon.database_url)
    if database is not None:
        database.chmod(0o644)
    daemon.start()
    assert daemon.terminate() == 0
    assert mode(daemon.home) == 0o700 and mode(old) == 0o700
    assert mode(daemon.home / "mail-out") == 0o700  # the file inside is hidden by its folder
    if database is not None:
        assert mode(database) == 0o600


def test_r26_commands_create_private_files(cli) -> None:
    assert cli("init-db").returncode == 0
    database = sqlite_path(cli.database_url)
    if database is not None:
        assert mode(database) == 0o600
