"""The SMTP door against a real server and real smtplib on loopback (R7, R29, R30, docs/rules.md).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import smtplib
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from intake import db
from intake.channels.smtp import (
    REPLY_BAD_ADDRESS,
    REPLY_BAD_SENDER,
    REPLY_INTERNAL,
    REPLY_NO_RELAY,
    REPLY_OK,
    REPLY_STORAGE_FAILED,
    REPLY_TOO_BIG,
    IntakeHandler,
    start_smtp_server,
    tls_context,
)
from intake.config import Config, ConfigError, SmtpConfig, builtin_profiles
from intake.models import RawMessage
from tests.conftest import missing_peer
from tests.smtpthread import ThreadedSmtpServer

HOST = "127.0.0.1"
SENDER = "yamada@customer.example.com"
HELPDESK = "support@example.jp"
DESKNET = "neo-support@example.jp"
FOREIGN = "someone@elsewhere.example"
# How long a test waits for something that should happen at once: a hang detector, not a
# speed limit (speed is measured in bench/).
HANG_LIMIT = 60


def iso2022jp_message(message_id: str = "<iso2022@customer.example.com>") -> bytes:
    """A Japanese mail as old mailers send it: ISO-2022-JP, 7bit, CRLF, one dot-stuffed line."""
    subject = base64.b64encode("ライセンスについて".encode("iso-2022-jp")).decode()
    body = "お世話になっております。\r\nライセンスの更新についてご相談です。\r\n.以上\r\n"
    return (
        f"From: {SENDER}\r\nTo: {HELPDESK}\r\nSubject: =?ISO-2022-JP?B?{subject}?=\r\n"
        f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
    ).encode("ascii") + body.encode("iso-2022-jp")


def plain_message(message_id: str, padding: int = 0) -> bytes:
    lines = "".join(f"{'x' * 70}\r\n" for _ in range(padding // 72 + 1)) if padding else ""
    return (
        f"From: {SENDER}\r\nTo: {HELPDESK}\r\nSubject: test\r\nMessage-ID: {message_id}\r\n\r\n"
        f"hello\r\n{lines}"
    ).encode("ascii")


def deliver(
    client: smtplib.SMTP,
    data: bytes,
    recipients: Sequence[str] = (HELPDESK,),
    sender: str = SENDER,
    mail_options: Sequence[str] = (),
) -> str:
    """One transaction step by step; returns the reply to DATA as one line, code included."""
    client.ehlo_or_helo_if_needed()
    code, text = client.mail(sender, list(mail_options))
    assert code == 250, text
    for recipient in recipients:
        code, text = client.rcpt(recipient)
        assert code == 250, text
    code, text = client.data(data)
    return f"{code} {text.decode()}"


def send(
    port: int,
    data: bytes,
    recipients: Sequence[str] = (HELPDESK,),
    sender: str = SENDER,
    mail_options: Sequence[str] = (),
) -> str:
    with smtplib.SMTP(HOST, port, timeout=60) as client:
        return deliver(client, data, recipients, sender, mail_options)


def raw_rows(sessions: sessionmaker[Session]) -> list[RawMessage]:
    with sessions() as session:
        return list(session.scalars(select(RawMessage).order_by(RawMessage.id)))


def count_rows(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(RawMessage)) or 0


def with_max_size(size: int) -> Config:
    return Config(smtp=SmtpConfig(max_message_size=size))


@pytest.fixture
def announced() -> list[int]:
    return []


@pytest.fixture
def server(sessions: sessionmaker[Session], announced: list[int]) -> Iterator[ThreadedSmtpServer]:
    with ThreadedSmtpServer(IntakeHandler(Config(), sessions, announced.append)) as running:
        yield running


@pytest.fixture
def postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


# R29: 250 only after commit #1.


def test_r29_250_after_commit_iso2022jp_stored_byte_identical(
    server: ThreadedSmtpServer, sessions: sessionmaker[Session], announced: list[int]
) -> None:
    data = iso2022jp_message()
    reply = send(server.port, data)
    [row] = raw_rows(sessions)
    assert reply == REPLY_OK.format(ids=row.id)
    assert row.data == data
    assert (row.channel, row.profile) == ("smtp", "helpdesk")
    assert (row.envelope_from, row.envelope_to) == (SENDER, [HELPDESK])
    assert row.message_id == "<iso2022@customer.example.com>"
    assert announced == [row.id]


def test_r29_reply_waits_for_the_commit_while_the_loop_keeps_serving(
    server: ThreadedSmtpServer, engine: Engine, sessions: sessionmaker[Session], postgres: bool
) -> None:
    replies: list[str] = []
    with engine.connect() as blocker:
        blocker.begin()  # SQLite: BEGIN IMMEDIATE takes the write lock (intake.db)
        if postgres:
            blocker.exec_driver_sql("LOCK TABLE raw_messages IN SHARE ROW EXCLUSIVE MODE")
        client = threading.Thread(target=lambda: replies.append(send(server.port, b"S: 1\r\n")))
        client.start()
        time.sleep(0.5)
        assert client.is_alive() and not replies  # no 250 while the commit cannot happen
        with smtplib.SMTP(HOST, server.port, timeout=10) as other:  # the loop is not blocked
            assert other.noop()[0] == 250
        blocker.rollback()
    client.join(60)
    [row] = raw_rows(sessions)
    assert replies == [REPLY_OK.format(ids=row.id)]


def test_r29_451_when_storage_fails_then_the_retry_is_stored_once(
    server: ThreadedSmtpServer,
    engine: Engine,
    sessions: sessionmaker[Session],
    announced: list[int],
) -> None:
    data = iso2022jp_message("<retry@customer.example.com>")
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE raw_messages RENAME TO raw_messages_away")
    assert send(server.port, data) == REPLY_STORAGE_FAILED
    assert announced == []
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE raw_messages_away RENAME TO raw_messages")
    first = send(server.port, data)
    again = send(server.port, data)  # as if our 250 had been lost on the way
    [row] = raw_rows(sessions)
    assert first == again == REPLY_OK.format(ids=row.id)
    assert row.data == data


def test_r29_451_when_the_database_is_unavailable_and_logs_keep_addresses_out(
    tmp_path: Path, postgres: bool, caplog: pytest.LogCaptureFixture
) -> None:
    if postgres:
        url = "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=1"
    else:
        (tmp_path / "a-file").write_text("not a directory")
        url = f"sqlite:///{tmp_path / 'a-file' / 'uketsuke.db'}"
    broken = create_engine(url)
    caplog.set_level(logging.DEBUG, logger="uketsuke")
    caplog.set_level(logging.INFO)
    try:
        handler = IntakeHandler(Config(), db.session_factory(broken))
        with ThreadedSmtpServer(handler) as running:
            assert send(running.port, iso2022jp_message()) == REPLY_STORAGE_FAILED
    finally:
        broken.dispose()
    assert "OperationalError" in caplog.text
    assert "example.jp" in caplog.text  # the recipient's domain, at most
    for secret in (HELPDESK, SENDER, "yamada", "Subject"):
        assert secret not in caplog.text


def test_r29_duplicate_sent_twice_is_one_row_with_the_same_id(
    server: ThreadedSmtpServer, sessions: sessionmaker[Session], announced: list[int]
) -> None:
    data = plain_message("<twice@customer.example.com>")
    first = send(server.port, data)
    second = send(server.port, data)
    [row] = raw_rows(sessions)
    assert first == second == REPLY_OK.format(ids=row.id)
    assert announced == [row.id, row.id]


def test_r29_unexpected_exception_answers_451_without_internal_text(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    class FailingOnce(IntakeHandler):
        failed = False

        async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
            if not self.failed:
                self.failed = True
                raise RuntimeError(f"internal detail about {envelope.mail_from}")
            return await super().handle_DATA(server, session, envelope)

    with (
        ThreadedSmtpServer(FailingOnce(Config(), sessions)) as running,
        smtplib.SMTP(HOST, running.port, timeout=30) as client,
    ):
        assert deliver(client, plain_message("<a@x>")) == REPLY_INTERNAL
        # The transaction is over after the reply to DATA: the next one starts cleanly.
        reply = deliver(client, plain_message("<b@x>"))
    [row] = raw_rows(sessions)
    assert reply == REPLY_OK.format(ids=row.id)
    assert "RuntimeError" in caplog.text  # with the code path, without the values
    assert SENDER not in caplog.text


def test_r29_on_stored_errors_do_not_change_the_reply(sessions: sessionmaker[Session]) -> None:
    def on_stored(raw_id: int) -> None:
        raise ValueError("the processor is asleep")

    with ThreadedSmtpServer(IntakeHandler(Config(), sessions, on_stored)) as running:
        reply = send(running.port, plain_message("<wake@x>"))
    [row] = raw_rows(sessions)
    assert reply == REPLY_OK.format(ids=row.id)


def test_r29_concurrent_clients_all_stored(
    server: ThreadedSmtpServer, sessions: sessionmaker[Session]
) -> None:
    replies: list[str] = []
    errors: list[BaseException] = []

    def client(number: int) -> None:
        try:
            with smtplib.SMTP(HOST, server.port, timeout=120) as smtp:
                for i in range(20):
                    data = plain_message(f"<c{number}-{i}@customer.example.com>")
                    replies.append(deliver(smtp, data))
        except BaseException as exc:  # reported below, with the thread's own traceback
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors
    rows = raw_rows(sessions)
    assert len(rows) == 160
    assert sorted(replies) == sorted(REPLY_OK.format(ids=row.id) for row in rows)


# R7: recipients map to profiles; the email channel carries Japanese mail as received.


@pytest.mark.parametrize(
    ("recipient", "profile"),
    [(HELPDESK, "helpdesk"), (DESKNET, "desknet"), ("Support@Example.JP", "helpdesk")],
)
def test_r7_recipient_selects_the_profile(
    server: ThreadedSmtpServer, sessions: sessionmaker[Session], recipient: str, profile: str
) -> None:
    send(server.port, plain_message("<p@x>"), recipients=[recipient])
    [row] = raw_rows(sessions)
    assert (row.profile, row.envelope_to) == (profile, [recipient])


def test_r7_recipients_of_two_profiles_store_one_message_each(
    server: ThreadedSmtpServer, sessions: sessionmaker[Session]
) -> None:
    data = plain_message("<both@x>")
    reply = send(server.port, data, recipients=[HELPDESK, DESKNET, HELPDESK])
    helpdesk, desknet = raw_rows(sessions)
    assert reply == REPLY_OK.format(ids=f"{helpdesk.id},{desknet.id}")
    assert (helpdesk.profile, helpdesk.envelope_to, helpdesk.data) == ("helpdesk", [HELPDESK], data)
    assert (desknet.profile, desknet.envelope_to, desknet.data) == ("desknet", [DESKNET], data)


def test_r7_ehlo_advertises_size_8bitmime_smtputf8_and_no_auth(
    sessions: sessionmaker[Session],
) -> None:
    with (
        ThreadedSmtpServer(IntakeHandler(with_max_size(4096), sessions)) as running,
        smtplib.SMTP(HOST, running.port, timeout=30) as client,
    ):
        code, _ = client.ehlo()
        assert code == 250
        assert client.esmtp_features["size"] == "4096"
        assert {"8bitmime", "smtputf8"} <= client.esmtp_features.keys()
        assert not {"starttls", "auth"} & client.esmtp_features.keys()


def test_r7_smtputf8_address_and_headers_stored_byte_identical(
    sessions: sessionmaker[Session],
) -> None:
    profiles = builtin_profiles()
    profiles["helpdesk"] = profiles["helpdesk"].model_copy(
        update={"intake_addresses": [HELPDESK, "受付@example.jp"]}
    )
    sender = "山田@customer.example.com"
    data = (
        f"From: 山田太郎 <{sender}>\r\nTo: 受付@example.jp\r\nSubject: お問い合わせ\r\n"
        "Message-ID: <utf8@customer.example.com>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "製品が起動しません。\r\n"
    ).encode()
    with ThreadedSmtpServer(IntakeHandler(Config(profiles=profiles), sessions)) as running:
        reply = send(
            running.port,
            data,
            recipients=["受付@example.jp"],
            sender=sender,
            mail_options=["SMTPUTF8", "BODY=8BITMIME"],
        )
    [row] = raw_rows(sessions)
    assert reply == REPLY_OK.format(ids=row.id)
    assert (row.data, row.profile) == (data, "helpdesk")
    assert (row.envelope_from, row.envelope_to) == (sender, ["受付@example.jp"])


def test_r7_8bitmime_raw_shift_jis_body_stored_byte_identical(
    server: ThreadedSmtpServer, sessions: sessionmaker[Session]
) -> None:
    data = (
        f"From: {SENDER}\r\nTo: {HELPDESK}\r\nSubject: sjis\r\nMessage-ID: <sjis@x>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=Shift_JIS\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode("ascii") + "表示ソフトが動きません。\r\n申し訳ございません。\r\n".encode("shift_jis")
    reply = send(server.port, data, mail_options=["BODY=8BITMIME"])
    [row] = raw_rows(sessions)
    assert reply == REPLY_OK.format(ids=row.id)
    assert row.data == data


def test_r7_null_sender_is_stored(
    server: ThreadedSmtpServer, sessions: sessionmaker[Session]
) -> None:
    reply = send(server.port, plain_message("<bounce@x>"), sender="<>")
    [row] = raw_rows(sessions)
    assert reply == REPLY_OK.format(ids=row.id)
    assert row.envelope_from == ""


def test_r7_starttls_then_send(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    if shutil.which("openssl") is None:
        missing_peer("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    config = Config(smtp=SmtpConfig(tls_cert=str(cert), tls_key=str(key)))
    client_context = ssl.create_default_context(cafile=str(cert))  # verifies the certificate
    with (
        ThreadedSmtpServer(IntakeHandler(config, sessions)) as running,
        smtplib.SMTP(HOST, running.port, timeout=30) as client,
    ):
        client.ehlo()
        assert "starttls" in client.esmtp_features
        assert client.starttls(context=client_context)[0] == 220
        client.ehlo()
        assert not {"starttls", "auth"} & client.esmtp_features.keys()
        data = iso2022jp_message()
        reply = deliver(client, data)
    [row] = raw_rows(sessions)
    assert reply == REPLY_OK.format(ids=row.id)
    assert row.data == data


def test_r7_start_smtp_server_on_the_running_loop_and_close(
    sessions: sessionmaker[Session],
) -> None:
    """An idle session does not hold the shutdown: with an hour's grace for transfers under
    way, close() still returns, and the idle client is disconnected. HANG_LIMIT, far below the
    grace, is a hang detector, not a speed limit."""

    async def scenario() -> tuple[str, int]:
        stored: list[int] = []
        door = await start_smtp_server(Config(), sessions, stored.append, host=HOST, port=0)
        assert door.port != 0
        reply = await asyncio.to_thread(send, door.port, plain_message("<loop@x>"))
        idle = await asyncio.to_thread(smtplib.SMTP, HOST, door.port, timeout=10)
        try:
            await asyncio.wait_for(door.close(grace=3600), HANG_LIMIT)
        except TimeoutError:
            pytest.fail("close() waited for an idle session (it has an hour's grace)")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            await asyncio.to_thread(idle.noop)
        idle.close()
        return reply, stored[0]

    reply, stored_id = asyncio.run(scenario())
    assert reply == REPLY_OK.format(ids=stored_id)


# R30: clear answers to bad input.


def test_r30_foreign_recipient_refused_at_rcpt(
    server: ThreadedSmtpServer, sessions: sessionmaker[Session]
) -> None:
    with smtplib.SMTP(HOST, server.port, timeout=30) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail(SENDER, [FOREIGN], plain_message("<relay@x>"))
        assert refused.value.recipients == {FOREIGN: (550, b"5.1.1 Recipient not accepted here")}
        client.mail(SENDER)
        code, text = client.rcpt(FOREIGN)  # refused at RCPT, never after DATA
        assert f"{code} {text.decode()}" == REPLY_NO_RELAY
    assert count_rows(sessions) == 0


def test_r30_mixed_recipients_accept_the_owned_one(
    server: ThreadedSmtpServer, sessions: sessionmaker[Session]
) -> None:
    with smtplib.SMTP(HOST, server.port, timeout=30) as client:
        refused = client.sendmail(SENDER, [FOREIGN, HELPDESK], plain_message("<mixed@x>"))
    assert refused == {FOREIGN: (550, b"5.1.1 Recipient not accepted here")}
    [row] = raw_rows(sessions)
    assert (row.profile, row.envelope_to) == ("helpdesk", [HELPDESK])


def test_r30_bad_addresses(server: ThreadedSmtpServer) -> None:
    with smtplib.SMTP(HOST, server.port, timeout=30) as client:
        client.ehlo()
        client.mail(SENDER, ["SMTPUTF8"])
        client.send(b"RCPT TO:<\xff\xfe@example.jp>\r\n")  # not UTF-8
        code, text = client.getreply()
        assert f"{code} {text.decode()}" == REPLY_BAD_ADDRESS
        code, _ = client.rcpt("@example.jp")  # unparsable: aiosmtpd's own 553 5.1.3
        assert code == 553
        client.rset()
        code, text = client.mail(f"{'a' * 300}@customer.example.com")
        assert f"{code} {text.decode()}" == REPLY_BAD_SENDER


def test_r30_too_big_after_data(sessions: sessionmaker[Session]) -> None:
    with (
        ThreadedSmtpServer(IntakeHandler(with_max_size(2048), sessions)) as running,
        smtplib.SMTP(HOST, running.port, timeout=30) as client,
    ):
        assert deliver(client, plain_message("<big@x>", padding=4000)) == REPLY_TOO_BIG
        assert count_rows(sessions) == 0
        reply = deliver(client, plain_message("<small@x>"))  # the session goes on
    [row] = raw_rows(sessions)
    assert reply == REPLY_OK.format(ids=row.id)


def test_r30_too_big_announced_by_mail_from_size(sessions: sessionmaker[Session]) -> None:
    with (
        ThreadedSmtpServer(IntakeHandler(with_max_size(2048), sessions)) as running,
        smtplib.SMTP(HOST, running.port, timeout=30) as client,
    ):
        client.ehlo()
        code, text = client.mail(SENDER, ["SIZE=2049"])
        assert f"{code} {text.decode()}" == REPLY_TOO_BIG
        client.rset()
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # smtplib sends SIZE= itself
            client.sendmail(SENDER, [HELPDESK], plain_message("<big@x>", padding=4000))
        assert (refused.value.smtp_code, refused.value.smtp_error) == (
            552,
            b"5.3.4 Message too big",
        )
    assert count_rows(sessions) == 0


def test_r30_tls_settings_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^smtp\.tls_key: "):
        tls_context(SmtpConfig(tls_cert=str(tmp_path / "cert.pem")))
    with pytest.raises(ConfigError, match=r"^smtp\.tls_cert/smtp\.tls_key: cannot load"):
        tls_context(SmtpConfig(tls_cert=str(tmp_path / "no.pem"), tls_key=str(tmp_path / "no.key")))
    assert tls_context(SmtpConfig()) is None
