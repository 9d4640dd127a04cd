"""Alarms (docs/operations.md, "Alarms"; issue 15): a part stuck for ``[alerts] stuck_minutes``
sends one ``ops_alert`` mail when it starts and one ``ops_resolved`` mail when it ends, at most one
of each per condition per hour, straight to the relay; logged at ERROR; shown on the dashboard.

The first tests drive the decisions with a controlled clock; the others stop real parts of a
real daemon: the processor (SIGSTOP, kill -9), Dovecot and the relay.
"""

from __future__ import annotations

import email
import os
import signal
import smtplib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from intake import alarms, db
from intake.models import Alarm, OutboxMail
from intake.timeja import span_ja
from tests.daemon import Daemon, free_port, write_imap_config
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.peers.dovecot import DovecotServer
from tests.test_supervision import published

T0 = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
OPS = "ops@example.jp"
# 6 seconds: the daemon tests see an alarm within a few checks (one every 1.5 s).
FAST = f'[alerts]\nstuck_minutes = 0.1\nops_addresses = ["{OPS}"]\n'


def step(sessions: sessionmaker[Session], holds: bool, minutes: float) -> list[alarms.Due]:
    """One check of the condition "outbox" at T0 + ``minutes``; what it claims is delivered."""
    now = T0 + timedelta(minutes=minutes)
    with sessions.begin() as session:
        due = alarms.update(session, ["outbox"], {"outbox": "止まっています"} if holds else {}, now)
    with sessions.begin() as session:
        for mail in due:
            alarms.delivered(session, mail, now)
    return due


def kinds(due: list[alarms.Due]) -> list[str]:
    return [str(mail.kind) for mail in due]


def test_alarm_mails_once_when_a_condition_starts_and_once_when_it_ends(sessions) -> None:
    assert kinds(step(sessions, True, 0)) == ["ops_alert"]
    assert step(sessions, True, 1) == []  # still stuck: no second alert
    assert kinds(step(sessions, False, 2)) == ["ops_resolved"]
    assert step(sessions, False, 3) == []
    with sessions() as session:
        row = session.get(Alarm, "outbox")
        assert row is not None and not row.active and row.pending_mail is None


def test_alarm_flapping_condition_is_mailed_at_most_once_an_hour(sessions) -> None:
    assert kinds(step(sessions, True, 0)) == ["ops_alert"]
    assert kinds(step(sessions, False, 2)) == ["ops_resolved"]
    assert step(sessions, True, 5) == []  # back within the hour: held back
    assert step(sessions, False, 6) == []  # ...and it ended unseen: no all-clear either
    assert step(sessions, True, 10) == []
    assert step(sessions, True, 59) == []
    # Still stuck when the hour is over: operators must not believe it ended at minute 2.
    assert kinds(step(sessions, True, 61)) == ["ops_alert"]
    assert step(sessions, True, 62) == []


def test_alarm_back_before_its_all_clear_went_out_is_one_alarm(sessions) -> None:
    assert kinds(step(sessions, True, 0)) == ["ops_alert"]
    now = T0 + timedelta(minutes=2)
    with sessions.begin() as session:  # it ends, but the relay refuses the all-clear
        due = alarms.update(session, ["outbox"], {}, now)
    assert kinds(due) == ["ops_resolved"]
    with sessions.begin() as session:
        alarms.undelivered(session, due[0])
    # Back before the all-clear went out: for operators it never ended, no second alert ...
    assert step(sessions, True, 3) == []
    # ... and when it really ends, one all-clear.
    assert kinds(step(sessions, False, 4)) == ["ops_resolved"]
    assert step(sessions, False, 5) == []


def test_alarm_mail_the_relay_refused_is_tried_again_and_claimed_by_one_instance(sessions) -> None:
    with sessions.begin() as session:
        first = alarms.update(session, ["outbox"], {"outbox": "止まっています"}, T0)
    assert kinds(first) == ["ops_alert"]
    with sessions.begin() as session:  # a second instance, while the first is delivering
        assert alarms.update(session, ["outbox"], {"outbox": "止まっています"}, T0) == []
    with sessions.begin() as session:
        alarms.undelivered(session, first[0])
    with sessions.begin() as session:
        again = alarms.update(session, ["outbox"], {"outbox": "止まっています"}, T0)
    assert kinds(again) == ["ops_alert"]


def test_span_ja_reads_as_japanese_staff_write_it() -> None:
    assert [span_ja(s) for s in (5, 60, 16 * 60 + 59, 3600, 3900, 86400 + 7200)] == [
        "5秒",
        "1分",
        "16分",
        "1時間",
        "1時間5分",
        "1日2時間",
    ]


# -- through the real daemon -------------------------------------------------------------------


def ops_mails(folder: Path) -> list[tuple[str, str]]:
    """(kind, subject) of every alarm mail delivered into a Maildir folder, oldest first."""
    found = []
    for path in sorted(folder.glob("*"), key=lambda p: p.stat().st_mtime):
        message = email.message_from_bytes(path.read_bytes())
        kind = message.get("X-Uketsuke-Kind", "")
        if kind.startswith("ops_"):
            found.append((kind, str(make_header(decode_header(message["Subject"])))))
    return found


def wait_for(condition: Callable[[], bool], seconds: float, what: str, daemon: Daemon) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"{what} did not happen within {seconds} s:\n{daemon.tail(30)}")


def fast_daemon(tmp_path: Path, database_url: str, extra: str = "") -> Daemon:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    config = home / "uketsuke.toml"
    config.write_text(FAST + extra, encoding="utf-8")
    daemon = Daemon(home, database_url, config=config)
    assert daemon.cli("init-db").returncode == 0
    return daemon


@contextmanager
def running(tmp_path: Path, database_url: str) -> Iterator[tuple[Daemon, Path]]:
    """A started daemon with the fast alarm settings, and its outgoing Maildir."""
    daemon = fast_daemon(tmp_path, database_url)
    try:
        daemon.start()
        daemon.wait_for_heartbeat()
        yield daemon, daemon.home / "mail-out" / "new"
    finally:
        daemon.close()


def test_processor_stopped_with_sigstop_raises_an_alarm_and_its_all_clear(
    tmp_path: Path, database_url: str
) -> None:
    with running(tmp_path, database_url) as (daemon, outbox):
        victim = published(daemon)["processor_pid"]
        os.kill(victim, signal.SIGSTOP)
        try:
            wait_for(lambda: bool(ops_mails(outbox)), 60, "an ops_alert", daemon)
        finally:
            os.kill(victim, signal.SIGCONT)
        wait_for(lambda: len(ops_mails(outbox)) >= 2, 60, "an ops_resolved", daemon)
        mails = ops_mails(outbox)
        assert [kind for kind, _ in mails] == ["ops_alert", "ops_resolved"]
        assert "処理プロセス" in mails[0][1] and "応答していません" in mails[0][1]
        assert "ERROR" in daemon.log.read_text() and "alarm: processor" in daemon.log.read_text()
        assert published(daemon)["processor_pid"] == victim  # stopped, not restarted


def test_processor_killed_raises_an_alarm_that_it_was_restarted(
    tmp_path: Path, database_url: str
) -> None:
    with running(tmp_path, database_url) as (daemon, outbox):
        os.kill(published(daemon)["processor_pid"], signal.SIGKILL)
        wait_for(lambda: len(ops_mails(outbox)) >= 2, 60, "an ops_alert and ops_resolved", daemon)
        mails = ops_mails(outbox)
        assert [kind for kind, _ in mails] == ["ops_alert", "ops_resolved"]
        assert "再起動しました" in mails[0][1]


def test_stopped_dovecot_raises_an_alarm_and_its_all_clear(
    tmp_path: Path, database_url: str, fresh_dovecot: DovecotServer
) -> None:
    imap = write_imap_config(tmp_path / "imap.toml", fresh_dovecot)
    daemon = fast_daemon(tmp_path, database_url, "\n" + imap.read_text(encoding="utf-8"))
    outbox = daemon.home / "mail-out" / "new"
    try:
        daemon.start()
        daemon.wait_for_heartbeat()
        fresh_dovecot.stop()
        try:
            wait_for(lambda: bool(ops_mails(outbox)), 60, "an ops_alert", daemon)
        finally:
            fresh_dovecot.start()
        wait_for(lambda: len(ops_mails(outbox)) >= 2, 90, "an ops_resolved", daemon)
        mails = ops_mails(outbox)
        assert [kind for kind, _ in mails] == ["ops_alert", "ops_resolved"]
        assert "メールボックス「inbox」" in mails[0][1]
        engine = db.make_engine(database_url)
        try:
            with engine.connect() as connection:
                recorded = connection.scalars(
                    select(OutboxMail.kind)
                    .where(OutboxMail.kind.like("ops_%"))
                    .order_by(OutboxMail.id)
                ).all()
        finally:
            engine.dispose()
        assert recorded == ["ops_alert", "ops_resolved"]  # `outbox list --kind ops_alert`
    finally:
        daemon.close()


class Sink:
    def __init__(self) -> None:
        self.mails: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        self.mails.append(envelope.original_content or envelope.content)
        return "250 OK"

    def kinds(self) -> list[str]:
        return [
            email.message_from_bytes(raw).get("X-Uketsuke-Kind", "")
            for raw in self.mails
            if b"X-Uketsuke-Kind: ops_" in raw
        ]


def retry_ack_now(database_url: str) -> None:
    """The acknowledgment that failed on the stopped relay is due now instead of after its
    back-off; it must still be pending, with the failed attempt recorded."""
    engine = db.make_engine(database_url)
    try:
        with db.session_factory(engine).begin() as session:
            [ack] = session.scalars(select(OutboxMail).where(OutboxMail.kind == "ack")).all()
            assert (ack.state, ack.attempts >= 1) == ("pending", True), (ack.state, ack.attempts)
            assert ack.due_at > datetime.now(UTC), ack.due_at  # backing off
            session.execute(
                update(OutboxMail)
                .where(OutboxMail.id == ack.id, OutboxMail.state == "pending")
                .values(due_at=datetime.now(UTC) - timedelta(seconds=1))
            )
    finally:
        engine.dispose()


def test_stopped_relay_raises_an_alarm_delivered_when_the_relay_is_back(
    tmp_path: Path, database_url: str
) -> None:
    relay_port = free_port()
    relay_config = (
        '[outbox]\ntransport = "smtp"\nrelay_host = "127.0.0.1"\n'
        f"relay_port = {relay_port}\nrelay_starttls = false\n"
    )
    daemon = fast_daemon(tmp_path, database_url, relay_config)
    sink = Sink()
    relay = Controller(sink, hostname="127.0.0.1", port=relay_port)
    try:
        daemon.start()
        daemon.wait_for_heartbeat()
        with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=30) as smtp:
            smtp.sendmail(
                "yamada@example.co.jp",
                ["support@example.jp"],
                make_mail(FIELDS_BLOCK + "\nログインできません。\n"),
            )
        log = daemon.log
        wait_for(lambda: "could not deliver the ops_alert" in log.read_text(), 60, "ERROR", daemon)
        relay.start()  # the relay is back: the alert first, the all-clear once the ack is out
        wait_for(lambda: sink.kinds() == ["ops_alert"], 60, "the ops_alert", daemon)
        # The ack failed on the stopped relay and waits out its back-off (30 s after the first
        # attempt, as tests/test_license.py checks): not waited for, its due time is moved to
        # now, as the clock would (tests/test_life.py); the dispatcher sends it on its next tick.
        retry_ack_now(database_url)
        wait_for(lambda: sink.kinds() == ["ops_alert", "ops_resolved"], 120, "both", daemon)
        assert any(b"X-Uketsuke-Kind: ack" in raw for raw in sink.mails)
    finally:
        daemon.close()
        relay.stop(no_assert=True)


def test_staff_see_a_banner_while_an_alarm_holds(sessions, tmp_path: Path) -> None:
    from intake.config import load_config
    from intake.web import create_app
    from tests.test_web_staff import Clock, furnish, login

    furnish(sessions)
    config = load_config(None, env={"UKETSUKE_HOME": str(tmp_path / "home")})
    staff = create_app(config, sessions, Clock(T0)).test_client()
    assert login(staff).status_code == 303
    assert "運用アラート" not in staff.get("/staff/").text
    text = "受信したメッセージが16分処理されずに待っています"
    with sessions.begin() as session:
        alarms.update(session, ["waiting"], {"waiting": text}, T0)
    assert f"運用アラート: {text}" in staff.get("/staff/").text
    with sessions.begin() as session:
        alarms.update(session, ["waiting"], {}, T0 + timedelta(minutes=5))
    assert "運用アラート" not in staff.get("/staff/").text
