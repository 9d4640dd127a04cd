"""The IMAP door against a real Dovecot (R7 channels, R29 nothing lost).

Every test talks to a private Dovecot (tests/peers/dovecot.py), never to a mocked imaplib: the
mailbox's flags and folders are read back through a separate IMAP session. Tests on the shared
``dovecot`` use a folder of their own; tests that stop, kick or recreate use ``fresh_dovecot``.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from imapclient import IMAPClient
from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from intake.channels.imap import ImapPoller, ImapSecurityError, backoff_seconds
from intake.config import ImapConfig
from intake.models import MailboxState, RawMessage
from intake.store import header_message_id, store_raw
from tests.mailmaker import make_mail
from tests.peers.dovecot import DovecotServer

KEYWORD = b"$Uketsuke"
SEEN = b"\\Seen"
# No test waits for a poll period: an hour between polls (an IDLE lasts at most 29 min), so
# only the event under test (IDLE's notice, a reconnect, the stop event) brings anything about
# within HANG_LIMIT.
POLL_SECONDS = 3600
# A hang detector, not a speed limit: normally each wait below ends in well under a second.
HANG_LIMIT = 60.0


def japanese_mail(n: int = 0, charset: str = "iso-2022-jp") -> bytes:
    """A mail with a Message-ID of its own (ISO-2022-JP 7bit or UTF-8 base64), CRLF throughout.

    CRLF as on the wire: Dovecot hands a bare LF (make_mail folds long subjects with one) out
    as CRLF, and the door stores exactly what the server hands out.
    """
    raw = make_mail(
        f"お世話になっております。\n注文番号 C-{n:04d} の件でお問い合わせです。\n",
        subject=f"【問い合わせ】ライセンスについて {n}",
        charset=charset,
        message_id=f"<{uuid.uuid4().hex}.{n}@customer.example.co.jp>",
    )
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def new_folder() -> str:
    return f"imap-{uuid.uuid4().hex[:8]}"


def imap_config(server: DovecotServer, folder: str = "INBOX", **changes: Any) -> ImapConfig:
    values: dict[str, Any] = {
        "name": "support",
        "host": server.host,
        "port": server.port,
        "security": "plain",
        "username": server.user,
        "password": server.password,
        "folder": folder,
        "idle": False,
        "poll_seconds": POLL_SECONDS,
    }
    values.update(changes)
    return ImapConfig(**values)


def mailbox(server: DovecotServer, folder: str) -> dict[int, tuple[bytes, set[bytes]]]:
    """UID -> (bytes as the server hands them out, flags but \\Recent), read on its own."""
    with server.client() as client:
        client.select_folder(folder, readonly=True)
        uids = client.search()
        if not uids:
            return {}
        fetched = client.fetch(uids, [b"BODY.PEEK[]", b"FLAGS"])
    return {
        uid: (fetched[uid][b"BODY[]"], set(fetched[uid][b"FLAGS"]) - {b"\\Recent"}) for uid in uids
    }


def raw_rows(sessions: sessionmaker[Session]) -> list[RawMessage]:
    with sessions() as session:
        return list(session.scalars(select(RawMessage).order_by(RawMessage.id)))


def mailbox_state(sessions: sessionmaker[Session], name: str = "support") -> MailboxState:
    with sessions() as session:
        state = session.get(MailboxState, name)
        assert state is not None
        return state


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition``; give up after HANG_LIMIT (far below POLL_SECONDS: a hang detector)."""
    deadline = time.monotonic() + HANG_LIMIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened (gave up after {HANG_LIMIT:g} s): {what}")
        time.sleep(0.02)


class StopEvent(threading.Event):
    """The stop event given to ``run()``; notes whether run() looked at it once it was set."""

    noticed = False

    def is_set(self) -> bool:
        self.noticed |= (value := super().is_set())
        return value

    def wait(self, timeout: float | None = None) -> bool:
        self.noticed |= (value := super().wait(timeout))
        return value


@contextmanager
def running(poller: ImapPoller) -> Iterator[threading.Thread]:
    """``poller.run`` on a thread; leaving the block sets its stop event, which must end it.

    Every wait in run() is the stop event's or an IDLE tick (0.5 s); a wait that ignored the
    stop would last POLL_SECONDS or an IDLE period (29 min): the join's HANG_LIMIT, far below
    those, detects that hang without measuring how fast the stop is.
    """
    stop = StopEvent()
    thread = threading.Thread(target=poller.run, args=(stop,), name="imap-test", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        alive_when_stopped = thread.is_alive()
        stop.set()
        thread.join(timeout=HANG_LIMIT)
    assert alive_when_stopped, "run() ended before its stop event was set"
    assert not thread.is_alive(), "run() ignored its stop event"
    assert stop.noticed, "run() ended without seeing its stop event"


# -- storing and marking ------------------------------------------------------------------------


def test_r29_imap_stores_byte_identical_then_flags(
    dovecot: DovecotServer, sessions: sessionmaker[Session]
) -> None:
    folder = new_folder()
    mails = [japanese_mail(1), japanese_mail(2, "utf-8"), japanese_mail(3)]
    for raw in mails:
        dovecot.deliver(raw, folder=folder)
    stored_ids: list[int] = []
    poller = ImapPoller(imap_config(dovecot, folder), sessions, "helpdesk", stored_ids.append)

    assert poller.poll_once() == 3

    after = mailbox(dovecot, folder)
    rows = raw_rows(sessions)
    assert [row.id for row in rows] == stored_ids
    uidvalidity = mailbox_state(sessions).uidvalidity
    for row, (uid, (data, flags)), raw in zip(rows, sorted(after.items()), mails, strict=True):
        assert row.data == data == raw, "stored byte for byte as the server hands it out"
        assert row.channel == "imap" and row.profile == "helpdesk"
        assert row.source_key == f"imap:support:{uidvalidity}:{uid}"
        assert row.message_id == header_message_id(raw)
        assert {SEEN, KEYWORD} <= flags
    assert mailbox_state(sessions).last_uid == max(after)


def test_r29_imap_polling_twice_stores_once_and_skips_flagged(
    dovecot: DovecotServer, sessions: sessionmaker[Session]
) -> None:
    folder = new_folder()
    dovecot.deliver(japanese_mail(1), folder=folder)
    dovecot.deliver(japanese_mail(2), folder=folder)
    with dovecot.client() as client:  # handled before, by hand or by an earlier setup
        client.select_folder(folder)
        first = min(client.search())
        client.add_flags([first], [KEYWORD])
    poller = ImapPoller(imap_config(dovecot, folder, profile="dn"), sessions, "helpdesk")

    assert poller.poll_once() == 1
    assert poller.poll_once() == 0
    dovecot.deliver(japanese_mail(3), folder=folder)
    assert poller.poll_once() == 1

    rows = raw_rows(sessions)
    assert len(rows) == 2 and {row.profile for row in rows} == {"dn"}
    after = mailbox(dovecot, folder)
    assert first not in {int(row.source_key.rsplit(":", 1)[1]) for row in rows if row.source_key}
    assert SEEN not in after[first][1], "a message marked already is left alone"
    assert all(KEYWORD in flags for _data, flags in after.values())


def test_r29_imap_duplicate_is_stored_once_and_still_marked(
    dovecot: DovecotServer, sessions: sessionmaker[Session]
) -> None:
    """Committed, then the process died before flagging: the next poll marks without storing."""
    folder = new_folder()
    for n in range(5):
        dovecot.deliver(japanese_mail(n), folder=folder)
    before = mailbox(dovecot, folder)
    with dovecot.client() as client:
        uidvalidity = client.select_folder(folder, readonly=True)[b"UIDVALIDITY"]
    for uid in sorted(before)[:2]:
        store_raw(
            sessions,
            before[uid][0],
            channel="imap",
            profile="helpdesk",
            source_key=f"imap:support:{uidvalidity}:{uid}",
        )

    assert ImapPoller(imap_config(dovecot, folder), sessions, "helpdesk").poll_once() == 3

    assert len(raw_rows(sessions)) == 5
    assert all({SEEN, KEYWORD} <= flags for _data, flags in mailbox(dovecot, folder).values())


def test_r29_imap_move_after_commit(
    dovecot: DovecotServer, sessions: sessionmaker[Session]
) -> None:
    folder, archive = new_folder(), f"処理済み-{uuid.uuid4().hex[:6]}"
    mails = [japanese_mail(n) for n in range(3)]
    for raw in mails:
        dovecot.deliver(raw, folder=folder)
    config = imap_config(dovecot, folder, after="move", move_to=archive)

    assert ImapPoller(config, sessions, "helpdesk").poll_once() == 3

    assert mailbox(dovecot, folder) == {}
    moved = mailbox(dovecot, archive)
    assert sorted(data for data, _flags in moved.values()) == sorted(mails)
    assert [row.data for row in raw_rows(sessions)] == mails


def test_r29_imap_move_without_move_capability_expunges_only_its_own(
    dovecot: DovecotServer, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """COPY + \\Deleted + UID EXPUNGE: another client's \\Deleted message stays where it is."""
    folder, archive = new_folder(), new_folder()
    for n in range(3):
        dovecot.deliver(japanese_mail(n), folder=folder)
    with dovecot.client() as client:
        client.select_folder(folder)
        foreign = max(client.search())
        client.add_flags([foreign], [b"\\Deleted"])
    real_has_capability = IMAPClient.has_capability

    def without_move(self: IMAPClient, capability: str) -> bool:
        return capability.upper() != "MOVE" and real_has_capability(self, capability)

    monkeypatch.setattr(IMAPClient, "has_capability", without_move)
    config = imap_config(dovecot, folder, after="move", move_to=archive)

    assert ImapPoller(config, sessions, "helpdesk").poll_once() == 2

    assert list(mailbox(dovecot, folder)) == [foreign]
    assert len(mailbox(dovecot, archive)) == 2


@pytest.mark.parametrize("after", ["flag", "move"])
def test_r29_imap_marks_only_after_commit(
    dovecot: DovecotServer, engine: Engine, sessions: sessionmaker[Session], after: str
) -> None:
    """Storage fails: the mailbox is untouched; after recovery everything arrives exactly once."""
    folder, archive = new_folder(), new_folder()
    for n in range(4):
        dovecot.deliver(japanese_mail(n), folder=folder)
    before = mailbox(dovecot, folder)
    poller = ImapPoller(
        imap_config(dovecot, folder, after=after, move_to=archive, batch_size=3),
        sessions,
        "helpdesk",
    )
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE raw_messages RENAME TO raw_messages_away")

    with pytest.raises(DBAPIError):
        poller.poll_once()

    assert mailbox(dovecot, folder) == before, "no \\Seen, no keyword, nothing moved"
    assert mailbox_state(sessions).last_uid == 0
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE raw_messages_away RENAME TO raw_messages")

    assert poller.poll_once() == 4
    assert poller.poll_once() == 0
    rows = raw_rows(sessions)
    assert sorted(row.data for row in rows) == sorted(data for data, _flags in before.values())
    if after == "flag":
        assert all({SEEN, KEYWORD} <= flags for _data, flags in mailbox(dovecot, folder).values())
    else:
        assert mailbox(dovecot, folder) == {} and len(mailbox(dovecot, archive)) == 4


def test_r29_imap_backlog_in_batches(
    dovecot: DovecotServer, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = new_folder()
    for n in range(120):
        dovecot.deliver(japanese_mail(n, "utf-8" if n % 2 else "iso-2022-jp"), folder=folder)
    marks: list[int] = []
    real_add_flags = IMAPClient.add_flags

    def counting_add_flags(
        self: IMAPClient, messages: Any, flags: Any, silent: bool = False
    ) -> Any:
        marks.append(len(messages))
        return real_add_flags(self, messages, flags, silent=silent)

    monkeypatch.setattr(IMAPClient, "add_flags", counting_add_flags)
    poller = ImapPoller(imap_config(dovecot, folder, batch_size=50), sessions, "helpdesk")

    assert poller.poll_once() == 120

    assert marks == [50, 50, 20], "one STORE per batch"
    after = mailbox(dovecot, folder)
    assert [row.data for row in raw_rows(sessions)] == [after[uid][0] for uid in sorted(after)]
    assert all({SEEN, KEYWORD} <= flags for _data, flags in after.values())
    assert mailbox_state(sessions).last_uid == max(after)


def test_r29_imap_message_appended_during_poll_is_picked_up_next(
    dovecot: DovecotServer, sessions: sessionmaker[Session]
) -> None:
    folder = new_folder()
    for n in range(3):
        dovecot.deliver(japanese_mail(n), folder=folder)
    late = japanese_mail(99, "utf-8")
    appender = dovecot.client()

    appended: list[bool] = []

    def on_stored(_raw_id: int) -> None:
        if not appended:  # in the middle of the poll, after its SEARCH
            appended.append(True)
            appender.append(folder, late)

    poller = ImapPoller(imap_config(dovecot, folder, batch_size=2), sessions, "helpdesk", on_stored)

    assert poller.poll_once() == 3
    assert appended
    assert late not in [row.data for row in raw_rows(sessions)]
    assert poller.poll_once() == 1
    assert raw_rows(sessions)[-1].data == late
    appender.logout()


def test_r29_imap_uidvalidity_change_stores_nothing_twice(
    fresh_dovecot: DovecotServer, sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    """New UIDVALIDITY, same mail (a migration that also lost the keywords): nothing twice."""
    server = fresh_dovecot
    for n in range(3):
        server.deliver(japanese_mail(n))
    poller = ImapPoller(imap_config(server), sessions, "helpdesk")
    assert poller.poll_once() == 3
    old = mailbox_state(sessions).uidvalidity
    with server.client() as client:
        client.select_folder("INBOX")
        client.remove_flags(client.search(), [KEYWORD, SEEN])

    new = server.recreate_mailbox("INBOX", keep_messages=True)
    with caplog.at_level(logging.WARNING, logger="uketsuke.imap"):
        assert poller.poll_once() == 0

    assert new != old and mailbox_state(sessions).uidvalidity == new
    assert any("UIDVALIDITY changed" in record.getMessage() for record in caplog.records)
    assert len(raw_rows(sessions)) == 3
    assert all({SEEN, KEYWORD} <= flags for _data, flags in mailbox(server, "INBOX").values())
    late = japanese_mail(4)
    server.deliver(late)
    assert poller.poll_once() == 1
    assert raw_rows(sessions)[-1].data == late
    assert raw_rows(sessions)[-1].source_key.startswith(f"imap:support:{new}:")  # type: ignore[union-attr]


# -- the loop: IDLE, errors, backoff, stop ----------------------------------------------------


def test_r7_imap_idle_stores_new_mail_without_waiting(
    dovecot: DovecotServer, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next poll is an hour away: only IDLE's notice of the new mail can bring the second
    message in (the hang limit is far shorter), and the server's EXISTS is what did."""
    folder = new_folder()
    dovecot.deliver(japanese_mail(0), folder=folder)
    idling = threading.Event()
    real_idle = IMAPClient.idle
    real_idle_check = IMAPClient.idle_check
    notices: list[tuple[Any, ...]] = []

    def watched_idle(self: IMAPClient) -> Any:
        result = real_idle(self)
        idling.set()
        return result

    def watched_idle_check(self: IMAPClient, *args: Any, **kwargs: Any) -> Any:
        responses = real_idle_check(self, *args, **kwargs)
        notices.extend(responses)
        return responses

    monkeypatch.setattr(IMAPClient, "idle", watched_idle)
    monkeypatch.setattr(IMAPClient, "idle_check", watched_idle_check)
    stored: list[int] = []
    config = imap_config(dovecot, folder, idle=True)
    with running(ImapPoller(config, sessions, "helpdesk", stored.append)):
        wait_until(lambda: len(stored) == 1 and idling.is_set(), "the first poll, then IDLE")
        dovecot.deliver(japanese_mail(1), folder=folder)
        wait_until(lambda: len(stored) == 2, "IDLE to report the new mail")
    assert any(response[1:2] == (b"EXISTS",) for response in notices), notices
    assert all({SEEN, KEYWORD} <= flags for _data, flags in mailbox(dovecot, folder).values())


def test_r7_imap_run_survives_dropped_connection_and_restart(
    fresh_dovecot: DovecotServer, sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    server = fresh_dovecot
    stored: list[int] = []
    config = imap_config(server, idle=True)
    poller = ImapPoller(config, sessions, "helpdesk", stored.append)
    with caplog.at_level(logging.INFO, logger="uketsuke.imap"), running(poller) as thread:
        server.deliver(japanese_mail(1))
        wait_until(lambda: len(stored) == 1, "the first message")

        server.drop_connections()
        server.deliver(japanese_mail(2))
        wait_until(lambda: len(stored) == 2, "a message after the connection dropped")

        server.stop()
        time.sleep(1.5)  # two refused connections: backoff 1 s, then 2 s
        server.start()
        server.deliver(japanese_mail(3))
        wait_until(lambda: len(stored) == 3, "a message after the server restarted")
        assert thread.is_alive()

    messages = [record.getMessage() for record in caplog.records]
    assert any("retrying in 1 s" in m for m in messages)
    assert any("retrying in 2 s" in m for m in messages), messages
    assert len(raw_rows(sessions)) == 3
    assert all({SEEN, KEYWORD} <= flags for _data, flags in mailbox(server, "INBOX").values())


def test_r7_imap_login_failure_is_logged_and_retried(
    fresh_dovecot: DovecotServer,
    sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = fresh_dovecot
    server.deliver(japanese_mail(1))
    secret_variable = "UKETSUKE_IMAP_PASSWORD_SUPPORT"
    monkeypatch.setenv(secret_variable, "wrong-secret-pw")
    stored: list[int] = []
    poller = ImapPoller(imap_config(server, password=""), sessions, "helpdesk", stored.append)
    with caplog.at_level(logging.INFO, logger="uketsuke.imap"), running(poller) as thread:
        wait_until(lambda: any("LoginError" in r.getMessage() for r in caplog.records), "a failure")
        monkeypatch.setenv(secret_variable, server.password)
        wait_until(lambda: len(stored) == 1, "the retry after the password was fixed")
        assert thread.is_alive()

    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "LoginError; retrying in 1 s" in text
    assert "wrong-secret-pw" not in text and server.password not in text
    assert server.user not in text


def test_imap_backoff_doubles_up_to_five_minutes() -> None:
    assert [backoff_seconds(n) for n in (1, 2, 3, 4, 9, 10, 1000)] == [1, 2, 4, 8, 256, 300, 300]


# -- TLS ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_r7_imap_tls_with_the_servers_ca(
    fresh_dovecot_tls: DovecotServer, sessions: sessionmaker[Session], security: str
) -> None:
    server = fresh_dovecot_tls
    raw = japanese_mail(1)
    server.deliver(raw)
    port = server.tls_port if security == "tls" else server.port
    config = imap_config(server, security=security, port=port, ca_file=str(server.cert_path))

    assert ImapPoller(config, sessions, "helpdesk").poll_once() == 1

    assert [row.data for row in raw_rows(sessions)] == [raw]


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_imap_tls_without_the_ca_fails_and_reads_nothing(
    fresh_dovecot_tls: DovecotServer, sessions: sessionmaker[Session], security: str
) -> None:
    server = fresh_dovecot_tls
    server.deliver(japanese_mail(1))
    port = server.tls_port if security == "tls" else server.port
    config = imap_config(server, security=security, port=port)  # system CAs only

    with pytest.raises(ssl.SSLError):
        ImapPoller(config, sessions, "helpdesk").poll_once()

    assert "Login: user=" not in server.log(), "no password went over the wire"
    assert raw_rows(sessions) == []
    assert all(flags == set() for _data, flags in mailbox(server, "INBOX").values())


def test_imap_starttls_never_falls_back_to_plaintext(
    dovecot: DovecotServer, sessions: sessionmaker[Session]
) -> None:
    folder = new_folder()
    dovecot.deliver(japanese_mail(1), folder=folder)
    config = imap_config(dovecot, folder, security="starttls")  # this server has no STARTTLS

    with pytest.raises(ImapSecurityError):
        ImapPoller(config, sessions, "helpdesk").poll_once()

    assert raw_rows(sessions) == []
    assert all(flags == set() for _data, flags in mailbox(dovecot, folder).values())


# -- the lease ----------------------------------------------------------------------------------


def test_imap_lease_lets_one_poller_poll(
    dovecot: DovecotServer, sessions: sessionmaker[Session]
) -> None:
    """Two instances on one database (the lease, docs/architecture.md, "Processes and threads"):
    one polls, the other skips."""
    folder = new_folder()
    dovecot.deliver(japanese_mail(1), folder=folder)
    config = imap_config(dovecot, folder)
    first = ImapPoller(config, sessions, "helpdesk", owner="host-a:1")
    second = ImapPoller(config, sessions, "helpdesk", owner="host-b:2")

    assert first.poll_once() == 1
    dovecot.deliver(japanese_mail(2), folder=folder)
    assert second.poll_once() == 0, "the lease is held by the first"
    assert sum(KEYWORD in flags for _d, flags in mailbox(dovecot, folder).values()) == 1
    assert mailbox_state(sessions).lease_owner == "host-a:1"

    first.release_lease()
    assert second.poll_once() == 1
    assert first.poll_once() == 0, "now the second holds it"
    assert mailbox_state(sessions).lease_owner == "host-b:2"
    assert len(raw_rows(sessions)) == 2


def test_imap_lease_taken_by_one_of_many_at_once(
    dovecot: DovecotServer, sessions: sessionmaker[Session]
) -> None:
    config = imap_config(dovecot, new_folder())
    pollers = [ImapPoller(config, sessions, "helpdesk", owner=f"host-{n}:1") for n in range(4)]
    barrier = threading.Barrier(len(pollers))
    results: list[bool] = []

    def contend(poller: ImapPoller) -> None:
        barrier.wait()
        results.append(poller.take_lease())

    threads = [threading.Thread(target=contend, args=(p,)) for p in pollers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
