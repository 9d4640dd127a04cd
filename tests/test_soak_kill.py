"""The kill soak (R29, R16): one daemon on PostgreSQL under mixed SMTP + IMAP + web-form load,
killed with ``kill -9`` and restarted again and again (UKETSUKE_SOAK_ROUNDS, default 100), then
left to drain: every SMTP 250, every message put into the mailbox and every form submission
answered with its incident number is exactly one incident with exactly one acknowledgment,
delivered once. Runs only in ``make soak`` (UKETSUKE_SOAK=1)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests import soak
from tests.daemon import Daemon
from tests.peers.dovecot import DovecotServer
from tests.soak import soak_database_url  # noqa: F401 - the fixture database_url
from tests.test_daemon import orphaned_workers

pytestmark = soak.SOAK_MARKS


def test_r29_soak_kill_9_of_the_daemon_under_mixed_load_loses_and_doubles_nothing(
    tmp_path: Path,
    fresh_dovecot: DovecotServer,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    total = soak.rounds(100)
    seed, rng = soak.soak_seed()
    home = tmp_path / "home"
    home.mkdir()
    config = soak.soak_config(home / "uketsuke.toml", fresh_dovecot, seed)
    started = time.monotonic()
    daemon = Daemon(home, database_url, config=config)
    try:
        assert daemon.cli("init-db").returncode == 0
        daemon.start()
        load = soak.Mixed(fresh_dovecot, lambda: [daemon.smtp_port], lambda: [daemon.web_port])
        for _ in range(total):
            time.sleep(rng.uniform(0.2, 2.0))  # at any moment: receiving, processing, sending
            daemon.kill()
            daemon.start()
        expected = load.finish(soak.Expected())
        drain = soak.wait_drained(database_url, expected, daemon.tail)
        assert daemon.terminate() == 0
        counts = soak.check_exactly_once(database_url, [home / "mail-out"], expected)
    finally:
        daemon.close()
    with capsys.disabled():
        print(
            f"\nkill soak: {total} kill -9 rounds in {time.monotonic() - started:.0f} s "
            f"(drain {drain:.0f} s, UKETSUKE_SOAK_SEED={seed}); {load.summary(counts)}"
        )
    time.sleep(2)  # the killed daemons' parse workers notice within a second and exit
    assert orphaned_workers(home) == []
