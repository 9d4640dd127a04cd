"""An incident's whole life through the real daemon, by email only (R10, R17–R21).

Customer mail over SMTP → acknowledgment → staff notification → the staff member's answer from
a mail client (to the tokened Reply-To, over SMTP) → the customer receives it threaded → five
days of silence → closed with a notice. Outgoing mail goes through ``transport = "smtp"`` into a
real aiosmtpd relay sink. The daemon is killed with SIGKILL and restarted on the way; the
auto-close timer is a row, so nothing is lost or repeated. Five days are not waited for: the
timer row's due time is moved into the past, as the clock would.
"""

from __future__ import annotations

import email
import smtplib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from intake import db
from intake.models import Incident, TimedAction
from tests.daemon import Daemon, free_port
from tests.mailmaker import FIELDS_BLOCK, make_mail

CUSTOMER = "yamada@example.co.jp"
STAFF = "sato@example.jp"


class Sink:
    """The relay: every mail uketsuke sends, as (recipients, message)."""

    def __init__(self) -> None:
        self.mail: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.mail.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 2.0.0 queued"

    def wait_for(
        self, test: Callable[[list[str], EmailMessage], bool], timeout: float = 60
    ) -> EmailMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for recipients, message in self.mail:
                if test(recipients, message):
                    return message
            time.sleep(0.2)
        raise AssertionError(f"no such mail; sent: {[(r, m['Subject']) for r, m in self.mail]}")

    def count(self, test: Callable[[list[str], EmailMessage], bool]) -> int:
        return sum(1 for r, m in self.mail if test(r, m))


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    capture = Sink()
    port = free_port()
    relay = Controller(capture, hostname="127.0.0.1", port=port)
    relay.start()
    yield capture, port
    relay.stop()


def relayed_desk(tmp_path: Path, database_url: str, relay_port: int, hold_seconds: int) -> Daemon:
    """A daemon sending through the relay at ``relay_port``, with Sato as staff; a staff answer
    waits ``hold_seconds`` before it is sent."""
    home = tmp_path / "home"
    home.mkdir()
    config = home / "uketsuke.toml"
    config.write_text(
        "[outbox]\n"
        'transport = "smtp"\n'
        'relay_host = "127.0.0.1"\n'
        f"relay_port = {relay_port}\n"
        "relay_starttls = false\n"
        "[profiles.helpdesk]\n"
        f"answer_hold_seconds = {hold_seconds}\n",
        encoding="utf-8",
    )
    instance = Daemon(home, database_url, config=config)
    assert instance.cli("migrate").returncode == 0
    assert instance.cli("staff", "add", "佐藤 花子", STAFF).returncode == 0
    return instance


@pytest.fixture
def desk(tmp_path: Path, database_url: str, sink) -> Iterator[Daemon]:
    instance = relayed_desk(tmp_path, database_url, sink[1], hold_seconds=2)
    yield instance
    instance.close()


def send(daemon: Daemon, sender: str, recipient: str, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=30) as client:
        client.sendmail(sender, [recipient], data)


def test_r18_r20_full_life_by_email_through_the_daemon(desk: Daemon, sink, database_url) -> None:
    capture, _ = sink
    desk.start()
    question = make_mail(
        FIELDS_BLOCK + "\n管理画面にログインできません。\n", message_id="<life-1@example.co.jp>"
    )
    send(desk, CUSTOMER, "support@example.jp", question)

    ack = capture.wait_for(lambda r, m: r == [CUSTOMER] and "受け付けました" in m["Subject"])
    number = int(str(ack["Subject"]).split("]")[0].lstrip("[#"))
    notify = capture.wait_for(lambda r, m: r == [STAFF] and f"[#{number}]" in m["Subject"])
    reply_to = str(notify["Reply-To"])
    assert reply_to.startswith("support+")

    # The staff member answers from a mail client: Reply-To, quoting the notification.
    quoted = "\n".join("> " + line for line in notify.get_content().splitlines())
    answer = make_mail(
        f"山田様\n\nパスワードを再設定してください。\n\n佐藤\n\n{STAFF} wrote:\n{quoted}\n",
        subject="Re: " + str(notify["Subject"]),
        sender=STAFF,
        to=reply_to,
        headers={"In-Reply-To": str(notify["Message-ID"])},
    )
    send(desk, STAFF, reply_to, answer)
    relayed = capture.wait_for(lambda r, m: r == [CUSTOMER] and m["In-Reply-To"] is not None
                               and "Re:" in m["Subject"])  # fmt: skip
    assert relayed["In-Reply-To"] == "<life-1@example.co.jp>"  # threaded to the customer's mail
    assert str(relayed["From"]).endswith("<support@example.jp>")
    text = relayed.get_content()
    assert "パスワードを再設定してください。" in text and "管理画面" not in text
    assert "support+" not in relayed.as_string() and STAFF not in relayed.as_string()

    # A crash, then five days of silence: the timer is a row.
    desk.kill()
    engine = db.make_engine(database_url)
    sessions = db.session_factory(engine)
    with sessions.begin() as session:
        timer = session.scalars(select(TimedAction).where(TimedAction.kind == "auto_close")).one()
        assert timer.due_at - datetime.now(UTC) > timedelta(hours=119)
        session.execute(
            update(TimedAction)
            .where(TimedAction.id == timer.id)
            .values(due_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    desk.start()
    closed = capture.wait_for(lambda r, m: r == [CUSTOMER] and "クローズ" in m["Subject"], 90)
    assert f"[#{number}]" in closed["Subject"]
    desk.terminate()
    desk.start()  # a restart neither loses nor repeats it
    time.sleep(3)
    assert capture.count(lambda r, m: "クローズ" in str(m["Subject"])) == 1
    with sessions() as session:
        assert session.get(Incident, number).state == "closed"
    engine.dispose()
