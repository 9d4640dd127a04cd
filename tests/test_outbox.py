"""The outbox through a real SMTP relay (aiosmtpd on loopback): sent once, Message-ID kept (R16)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from aiosmtpd.controller import Controller
from sqlalchemy import select

from intake.config import OutboxConfig
from intake.intakefirst import MAX_DEFER as OUTBOX_MAX_DEFER
from intake.models import OutboxMail, RawMessage
from intake.store import store_raw
from responder.outbox import Dispatcher, queue_bytes
from responder.transports import MaildirTransport, SmtpRelayTransport
from scheduler.calendar import TOKYO
from scheduler.service import OutboxJob
from tests.daemon import free_port

NOW = datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)


def plain_relay(port: int) -> SmtpRelayTransport:
    """A relay on loopback without STARTTLS (the test relay offers none)."""
    return SmtpRelayTransport(
        OutboxConfig(
            transport="smtp", relay_host="127.0.0.1", relay_port=port, relay_starttls=False
        )
    )


def queue_one(sessions, message_id: str) -> None:  # noqa: ANN001
    with sessions.begin() as session:
        queue_bytes(
            session,
            kind="ack",
            profile="helpdesk",
            recipients=["c@example.jp"],
            data=f"Message-ID: {message_id}\r\nSubject: t\r\n\r\nbody\r\n".encode(),
            message_id=message_id,
            now=NOW,
        )


class Capture:
    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 queued"


def test_r16_relay_delivery_is_recorded_and_late_mail_marked_late(sessions) -> None:
    capture = Capture()
    relay = Controller(capture, hostname="127.0.0.1", port=free_port())
    relay.start()
    try:
        with sessions.begin() as session:
            for n, due in enumerate((NOW, NOW - timedelta(hours=3))):
                queue_bytes(
                    session,
                    kind="ack",
                    profile="helpdesk",
                    recipients=[f"c{n}@example.jp"],
                    data=f"Message-ID: <m{n}@x>\r\nSubject: t\r\n\r\nbody\r\n".encode(),
                    message_id=f"<m{n}@x>",
                    now=due,
                    due_at=due,
                )
        transport = plain_relay(relay.port)
        dispatcher = Dispatcher(sessions, transport, lambda profile: "support@example.jp")
        assert dispatcher.run_once(NOW) == 2
        assert dispatcher.run_once(NOW) == 0  # sent rows are never sent again
    finally:
        relay.stop()
    assert sorted((f, r) for f, r, _ in capture.envelopes) == [
        ("support@example.jp", ["c0@example.jp"]),
        ("support@example.jp", ["c1@example.jp"]),
    ]
    assert all(b"Message-ID: <m" in data for _, _, data in capture.envelopes)
    with sessions() as session:
        rows = {r.message_id: r for r in session.scalars(select(OutboxMail))}
    assert rows["<m0@x>"].state == rows["<m1@x>"].state == "sent"
    assert not rows["<m0@x>"].late and rows["<m1@x>"].late  # due 3 h ago: still sent, as late


def test_r16_relay_refusing_starttls_is_never_a_plaintext_fallback(sessions) -> None:
    relay = Controller(Capture(), hostname="127.0.0.1", port=free_port())
    relay.start()
    try:
        queue_one(sessions, "<tls@x>")
        transport = SmtpRelayTransport(
            OutboxConfig(transport="smtp", relay_host="127.0.0.1", relay_port=relay.port)
        )
        assert Dispatcher(sessions, transport, lambda p: "support@example.jp").run_once(NOW) == 0
    finally:
        relay.stop()
    with sessions() as session:
        row = session.scalars(select(OutboxMail)).one()
    assert (row.state, row.attempts) == ("pending", 1)
    assert "STARTTLS" in row.last_error or "SMTPNotSupportedError" in row.last_error


class CommitsWhileDelivering:
    """A relay that, while a mail is being handed to it, has a door store a message: the
    dispatcher must hold no write lock during delivery (SQLite has one writer at a time)."""

    def __init__(self, sessions) -> None:  # noqa: ANN001
        self.sessions = sessions
        self.stored_during_delivery: list[bool] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        done = threading.Event()

        def door() -> None:
            store_raw(self.sessions, b"Subject: during\r\n\r\nx\r\n", channel="smtp")
            done.set()

        threading.Thread(target=door, daemon=True).start()
        self.stored_during_delivery.append(done.wait(5))
        return "250 2.0.0 queued"


def test_slow_relay_never_holds_up_the_doors_commits(sessions) -> None:
    handler = CommitsWhileDelivering(sessions)
    relay = Controller(handler, hostname="127.0.0.1", port=free_port())
    relay.start()
    try:
        queue_one(sessions, "<slow@x>")
        transport = plain_relay(relay.port)
        assert Dispatcher(sessions, transport, lambda p: "support@example.jp").run_once(NOW) == 1
    finally:
        relay.stop()
    assert handler.stored_during_delivery == [True]


def test_outbox_defers_to_an_intake_backlog_for_30_seconds_at_most(sessions, tmp_path) -> None:
    """Intake first: while stored mail waits to be processed the outbox waits too, but an
    acknowledgment is never held back longer than OUTBOX_MAX_DEFER."""
    dispatcher = Dispatcher(
        sessions, MaildirTransport(tmp_path / "out"), lambda p: "support@example.jp"
    )
    job = OutboxJob(dispatcher, sessions)
    queue_one(sessions, "<first@x>")
    assert job.run(NOW) == 1  # nothing waits to be processed: sent at once

    raw = store_raw(sessions, b"Subject: waiting\r\n\r\nx\r\n", channel="smtp")
    queue_one(sessions, "<second@x>")
    assert job.run(NOW) == 0  # a backlog: deferred
    assert job.run(NOW + OUTBOX_MAX_DEFER - timedelta(seconds=1)) == 0
    assert job.run(NOW + OUTBOX_MAX_DEFER) == 1  # never longer than the limit
    with sessions.begin() as session:
        session.get(RawMessage, raw.id).state = "processed"
    queue_one(sessions, "<third@x>")
    assert job.run(NOW + OUTBOX_MAX_DEFER) == 1
    assert len(list((tmp_path / "out" / "new").iterdir())) == 3


def test_r16_a_mail_held_while_it_is_delivered_is_recorded_sent_not_sent_again(
    sessions, tmp_path
) -> None:
    """Staff hold a row (``uketsuke outbox hold``) while the dispatcher delivers it: it went
    out, so it is recorded sent; a later release must not send it a second time."""
    queue_one(sessions, "<held-race@example.jp>")
    maildir = MaildirTransport(tmp_path / "out")
    deliveries: list[str] = []

    class HoldingTransport:
        def deliver(self, message_id, sender, recipients, data) -> None:  # noqa: ANN001
            deliveries.append(message_id)
            if sessions.kw["bind"].dialect.name != "sqlite":
                return  # PostgreSQL delivers under the row's lock: a hold waits for it
            with sessions.begin() as session:
                session.scalars(select(OutboxMail)).one().state = "held"
            maildir.deliver(message_id, sender, recipients, data)

    dispatcher = Dispatcher(sessions, HoldingTransport(), lambda p: "support@example.jp")
    assert dispatcher.run_once(NOW) == 1
    with sessions() as session:
        assert session.scalars(select(OutboxMail.state)).one() == "sent"
    assert dispatcher.run_once(NOW + timedelta(hours=1)) == 0
    assert deliveries == ["<held-race@example.jp>"]


def test_r16_a_failing_relay_is_logged_once_when_it_fails_and_once_when_it_recovers(
    sessions, caplog
) -> None:
    """Not a WARNING every tick and every mail (issue 15): the rows keep each error."""
    import logging

    caplog.set_level(logging.DEBUG, logger="uketsuke.outbox")
    for n in range(3):
        queue_one(sessions, f"<down{n}@x>")
    port = free_port()  # nothing listens: connection refused
    dispatcher = Dispatcher(sessions, plain_relay(port), lambda p: "support@example.jp")
    later = NOW
    for _ in range(4):
        assert dispatcher.run_once(later) == 0
        later += timedelta(hours=2)  # past every back-off
    capture = Capture()
    relay = Controller(capture, hostname="127.0.0.1", port=port)
    relay.start()
    try:
        assert dispatcher.run_once(later) == 3
    finally:
        relay.stop()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in warnings] == ["relay failing"]
    recovered = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert recovered == ["relay delivering again after 8 h (12 failed attempts meanwhile)"]
    with sessions() as session:
        assert {r.state for r in session.scalars(select(OutboxMail))} == {"sent"}


def test_one_slow_recipient_never_holds_back_the_others(sessions) -> None:
    """The relay keeps one recipient's mail waiting until it has seen the others: with
    deliveries one after another it would wait for ever (the hang guard fails the test)."""
    others = threading.Event()
    seen: list[str] = []

    class SlowForOne:
        async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
            import asyncio

            if envelope.rcpt_tos == ["slow@example.jp"]:
                for _ in range(600):  # a hang guard of 60 s
                    if others.is_set():
                        break
                    await asyncio.sleep(0.1)
                else:
                    return "451 4.3.0 the others never came"
            else:
                seen.append(envelope.rcpt_tos[0])
                if len(seen) == 3:
                    others.set()
            return "250 2.0.0 queued"

    relay = Controller(SlowForOne(), hostname="127.0.0.1", port=free_port())
    relay.start()
    try:
        with sessions.begin() as session:
            recipients = ["slow@example.jp", "a@example.jp", "b@example.jp", "c@example.jp"]
            for n, to in enumerate(recipients):
                queue_bytes(
                    session,
                    kind="ack",
                    profile="helpdesk",
                    recipients=[to],
                    data=f"Message-ID: <p{n}@x>\r\nSubject: t\r\n\r\nbody\r\n".encode(),
                    message_id=f"<p{n}@x>",
                    now=NOW,
                )
        dispatcher = Dispatcher(sessions, plain_relay(relay.port), lambda p: "support@example.jp")
        assert dispatcher.run_once(NOW) == 4
    finally:
        relay.stop()
    assert sorted(seen) == ["a@example.jp", "b@example.jp", "c@example.jp"]


def test_each_mail_is_recorded_as_its_delivery_ends(sessions) -> None:
    """The relay keeps one recipient's mail until the database shows the three others sent:
    with results recorded after the whole batch it would wait for ever (the guard fails it)."""

    def others_recorded() -> bool:
        with sessions() as session:
            sent = session.scalars(
                select(OutboxMail.recipients).where(OutboxMail.state == "sent")
            ).all()
        return len(sent) == 3

    class SlowUntilRecorded:
        async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
            import asyncio

            if envelope.rcpt_tos == ["slow@example.jp"]:
                for _ in range(300):  # a hang guard of 30 s
                    if await asyncio.to_thread(others_recorded):
                        return "250 2.0.0 queued"
                    await asyncio.sleep(0.1)
                return "451 4.3.0 the others were never recorded"
            return "250 2.0.0 queued"

    relay = Controller(SlowUntilRecorded(), hostname="127.0.0.1", port=free_port())
    relay.start()
    try:
        with sessions.begin() as session:
            for n, to in enumerate(["slow@example.jp", "a@example.jp", "b@example.jp", "c@x.jp"]):
                queue_bytes(
                    session,
                    kind="ack",
                    profile="helpdesk",
                    recipients=[to],
                    data=f"Message-ID: <r{n}@x>\r\nSubject: t\r\n\r\nbody\r\n".encode(),
                    message_id=f"<r{n}@x>",
                    now=NOW,
                )
        dispatcher = Dispatcher(sessions, plain_relay(relay.port), lambda p: "support@example.jp")
        assert dispatcher.run_once(NOW) == 4
    finally:
        relay.stop()
