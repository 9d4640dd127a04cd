"""The database goes away under a running daemon: 451, nothing lost, everything after (R29)."""

from __future__ import annotations

import json
import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from intake.channels.smtp import REPLY_STORAGE_FAILED
from tests.conftest import missing_peer
from tests.daemon import Daemon
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.peers import postgres


@pytest.fixture
def cluster() -> Iterator[postgres.PrivatePostgres]:
    if not postgres.available():
        missing_peer("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    server = postgres.PrivatePostgres()
    server.start()
    yield server
    server.close()


def send(port: int, message_id: str) -> tuple[int, str]:
    data = make_mail(FIELDS_BLOCK + "\n障害について\n", message_id=message_id)
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo()
        client.mail("a@example.co.jp")
        client.rcpt("support@example.jp")
        code, text = client.data(data)
    return code, text.decode()


def test_r29_database_down_smtp_answers_451_then_recovers(
    cluster: postgres.PrivatePostgres, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    daemon = Daemon(home, cluster.url)
    try:
        assert daemon.cli("init-db").returncode == 0
        daemon.start()
        assert send(daemon.smtp_port, "<before@x>")[0] == 250
        cluster.stop()
        code, text = send(daemon.smtp_port, "<during@x>")
        assert f"{code} {text}" == REPLY_STORAGE_FAILED
        cluster.start()
        assert send(daemon.smtp_port, "<during@x>")[0] == 250  # the MTA's retry
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            counts = json.loads(daemon.cli("status", "--json").stdout)
            if counts["incidents"] == 2:
                break
            time.sleep(0.5)
        assert counts["raw_messages"] == 2 and counts["incidents"] == 2
        assert daemon.terminate() == 0
    finally:
        daemon.close()
