"""The kill soak (R29, R16): one daemon on PostgreSQL under mixed SMTP + IMAP + web-form load,
killed with ``kill -9`` and restarted again and again (UKETSUKE_SOAK_ROUNDS, default 100), then
left to drain: every SMTP 250, every message put into the mailbox and every form submission
answered with its incident number is exactly one incident with exactly one acknowledgment,
delivered once. Runs only in ``make soak`` (UKETSUKE_SOAK=1)."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from tests.daemon import Daemon, write_imap_config
from tests.peers.dovecot import DovecotServer
from tests.soak import (
    SOAK,
    WEB_TOML,
    Expected,
    ImapLoad,
    SmtpLoad,
    WebLoad,
    check_exactly_once,
    rounds,
    soak_database,
    wait_drained,
)
from tests.test_daemon import orphaned_workers

pytestmark = [
    pytest.mark.slow,
    pytest.mark.db,
    pytest.mark.skipif(not SOAK, reason="a soak: make soak (UKETSUKE_SOAK=1)"),
]


def test_r29_soak_kill_9_of_the_daemon_under_mixed_load_loses_and_doubles_nothing(
    tmp_path: Path, fresh_dovecot: DovecotServer, capsys: pytest.CaptureFixture[str]
) -> None:
    total = rounds(100)
    seed = int(os.environ.get("UKETSUKE_SOAK_SEED", str(time.time_ns() % 2**32)))
    rng = random.Random(seed)
    home = tmp_path / "home"
    home.mkdir()
    config = write_imap_config(home / "uketsuke.toml", fresh_dovecot)
    with config.open("a", encoding="utf-8") as handle:
        handle.write(WEB_TOML.format(key=seed))
    started = time.monotonic()
    with soak_database() as url:
        daemon = Daemon(home, url, config=config)
        try:
            assert daemon.cli("init-db").returncode == 0
            daemon.start()
            loads = [
                SmtpLoad(0.05, lambda: [daemon.smtp_port]),
                ImapLoad(0.3, fresh_dovecot),
                WebLoad(0.3, lambda: [daemon.web_port]),
            ]
            for load in loads:
                load.start()
            for _ in range(total):
                time.sleep(rng.uniform(0.2, 2.0))  # at any moment: receiving, processing, sending
                daemon.kill()
                daemon.start()
            expected = Expected()
            for load in loads:
                load.finish()
                expected.add(load)
            drain = wait_drained(url, expected, daemon.tail)
            assert daemon.terminate() == 0
            counts = check_exactly_once(url, [home / "mail-out"], expected)
        finally:
            daemon.close()
    smtp, imap, web = loads
    with capsys.disabled():
        print(
            f"\nkill soak: {total} kill -9 rounds in {time.monotonic() - started:.0f} s "
            f"(drain {drain:.0f} s, UKETSUKE_SOAK_SEED={seed}); "
            f"smtp {len(smtp.accepted)} (retried {smtp.retries}), imap {len(imap.accepted)}, "
            f"web {len(web.accepted)} (+{len(web.uncertain)} unanswered, {web.refused} refused); "
            f"incidents {counts['incidents']}, acks {counts['acks']}, "
            f"delivered {counts['delivered']}; 0 lost, 0 doubled"
        )
    time.sleep(2)  # the killed daemons' parse workers notice within a second and exit
    assert orphaned_workers(home) == []
