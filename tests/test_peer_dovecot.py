"""The private Dovecot peer works with imapclient (issue: real peers, never mocks).

R29 (nothing lost) and R7 (channels: the IMAP mailbox) are what the IMAP poller will rely on;
these tests prove the peer it will be tested against behaves like a real server: appends and
fetches bytes unchanged, sees mail dropped into the Maildir, notifies IDLE, changes UIDVALIDITY,
drops connections and restarts, and speaks TLS with a certificate only we trust. They check the
peer, not uketsuke, so they name no rule (test_imap.py checks the poller against R29 and R7).
"""

from __future__ import annotations

import socket
import ssl
import time
import uuid
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from imapclient import IMAPClient

import tests.peers.dovecot as peer
from tests.peers.dovecot import ConnectionDropped, DovecotServer

# How long to wait for IDLE's notice before giving up: a hang detector, not a speed limit.
IDLE_HANG_LIMIT = 60

# The fixtures, until tests/conftest.py registers them for every test module.
dovecot = peer.dovecot
fresh_dovecot = peer.fresh_dovecot
fresh_dovecot_tls = peer.fresh_dovecot_tls


def japanese_message(subject: str = "お問い合わせ：注文番号Ｃ０１２３について") -> bytes:
    message_id = f"<{uuid.uuid4().hex}@peer.test.uketsuke>"
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "山田 太郎 <yamada@example.jp>"
    msg["To"] = "support@example.jp"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg["Date"] = "Sun, 22 Nov 2026 10:00:00 +0900"
    msg.set_content(
        "いつもお世話になっております。\n注文番号①の件で、至急ご連絡ください。～よろしく～\n",
        charset="utf-8",
        cte="8bit",
    )
    return msg.as_bytes()


def message_id_of(raw: bytes) -> str:
    for line in raw.split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode("ascii")
    raise AssertionError("no Message-ID")


def unique_folder(prefix: str = "peer") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_dovecot_peer_roundtrip(dovecot: DovecotServer) -> None:
    raw = japanese_message()
    assert b"\xe3\x81\x8a" in raw, "body must be raw 8-bit UTF-8"
    folder = unique_folder()
    with dovecot.client() as client:
        client.create_folder(folder)
        client.append(folder, raw, flags=(), msg_time=None)
        client.select_folder(folder)
        uids = client.search(["HEADER", "Message-ID", message_id_of(raw)])
        assert len(uids) == 1
        fetched = client.fetch(uids, ["BODY.PEEK[]", "RFC822.SIZE", "FLAGS"])[uids[0]]
    assert fetched[b"BODY[]"] == raw
    assert fetched[b"RFC822.SIZE"] == len(raw)
    assert b"\\Seen" not in fetched[b"FLAGS"]


def test_dovecot_deliver_then_search(dovecot: DovecotServer) -> None:
    raw = japanese_message("【至急】返品について")
    path = dovecot.deliver(raw)
    assert path.parent == dovecot.maildir / "new"
    assert path.stat().st_uid == dovecot.uid
    with dovecot.client() as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["HEADER", "Message-ID", message_id_of(raw)])
        assert len(uids) == 1
        assert client.fetch(uids, ["BODY.PEEK[]"])[uids[0]][b"BODY[]"] == raw


def test_dovecot_deliver_into_japanese_folder(dovecot: DovecotServer) -> None:
    folder = f"問い合わせ-{uuid.uuid4().hex[:6]}"
    raw = japanese_message()
    dovecot.deliver(raw, folder=folder)
    with dovecot.client() as client:
        assert folder in [name for _flags, _sep, name in client.list_folders()]
        client.select_folder(folder)
        assert client.search(["HEADER", "Message-ID", message_id_of(raw)])


@pytest.mark.parametrize("how", ["append", "deliver"])
def test_dovecot_idle_notices_new_mail(dovecot: DovecotServer, how: str) -> None:
    folder = unique_folder("idle")
    raw = japanese_message()
    with dovecot.client() as watcher, dovecot.client() as sender:
        watcher.create_folder(folder)
        watcher.select_folder(folder)
        watcher.idle()
        try:
            started = time.monotonic()
            if how == "append":
                sender.append(folder, raw)
            else:
                dovecot.deliver(raw, folder=folder)
            responses: list[tuple[int, bytes]] = []
            while not responses and time.monotonic() - started < IDLE_HANG_LIMIT:
                responses = watcher.idle_check(timeout=5)
        finally:
            watcher.idle_done()
        assert (1, b"EXISTS") in responses, responses


def test_dovecot_uidvalidity_changes_after_recreate(fresh_dovecot: DovecotServer) -> None:
    server = fresh_dovecot
    raw = japanese_message()
    server.deliver(raw)
    with server.client() as client:
        before = client.select_folder("INBOX")[b"UIDVALIDITY"]
    kept = server.recreate_mailbox("INBOX")
    assert kept != before
    with server.client() as client:
        info = client.select_folder("INBOX")
        assert info[b"UIDVALIDITY"] == kept
        assert info[b"EXISTS"] == 1, "keep_messages=True keeps the mail"
        assert client.search(["HEADER", "Message-ID", message_id_of(raw)])
    emptied = server.recreate_mailbox("INBOX", keep_messages=False)
    assert emptied not in (before, kept)
    with server.client() as client:
        info = client.select_folder("INBOX")
        assert info[b"UIDVALIDITY"] == emptied
        assert info[b"EXISTS"] == 0

    folder = "Archive"
    server.deliver(raw, folder=folder)
    with server.client() as client:
        old = client.select_folder(folder)[b"UIDVALIDITY"]
    new = server.recreate_mailbox(folder, keep_messages=False)
    with server.client() as client:
        info = client.select_folder(folder)
    assert info[b"UIDVALIDITY"] == new != old
    assert info[b"EXISTS"] == 0


def test_dovecot_uidvalidity_change_seen_by_open_session(
    fresh_dovecot: DovecotServer,
) -> None:
    """A session that has the mailbox selected is disconnected by Dovecot, not lied to."""
    server = fresh_dovecot
    server.deliver(japanese_message())
    client = server.client()
    client.select_folder("INBOX")
    server.recreate_mailbox("INBOX")
    with pytest.raises(ConnectionDropped):
        client.noop()
        client.noop()


def test_dovecot_drop_connections(fresh_dovecot: DovecotServer) -> None:
    server = fresh_dovecot
    client = server.client()
    client.select_folder("INBOX")
    assert server.connected_sessions() == 1
    server.drop_connections()
    assert server.connected_sessions() == 0
    with pytest.raises(ConnectionDropped):
        client.noop()
    with server.client() as again:
        assert again.select_folder("INBOX")[b"EXISTS"] == 0


def test_dovecot_restart_keeps_mail_and_port(fresh_dovecot: DovecotServer) -> None:
    server = fresh_dovecot
    raw = japanese_message()
    server.deliver(raw)
    port = server.port
    client = server.client()
    uidvalidity = client.select_folder("INBOX")[b"UIDVALIDITY"]

    server.stop()
    assert not server.running
    with pytest.raises(ConnectionDropped):
        client.noop()
    with pytest.raises(OSError):
        IMAPClient(server.host, port=port, ssl=False, timeout=2)

    server.start()
    assert server.port == port
    with server.client() as again:
        info = again.select_folder("INBOX")
        assert info[b"UIDVALIDITY"] == uidvalidity
        assert again.search(["HEADER", "Message-ID", message_id_of(raw)])

    server.restart(downtime=0.1)
    assert server.running and server.port == port
    with server.client() as again:
        assert again.select_folder("INBOX")[b"EXISTS"] == 1


def test_dovecot_tls_imaps_and_starttls(fresh_dovecot_tls: DovecotServer) -> None:
    server = fresh_dovecot_tls
    assert server.tls and server.tls_port and server.tls_port != server.port
    raw = japanese_message()
    server.deliver(raw)

    with server.client("imaps") as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 1
        fetched = client.fetch("1:*", ["BODY.PEEK[]"])
        assert [data[b"BODY[]"] for data in fetched.values()] == [raw]
    with server.client("starttls") as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 1
    plain = IMAPClient(server.host, port=server.port, ssl=False, timeout=5)
    assert b"STARTTLS" in plain.capabilities()
    plain.shutdown()

    # Without the self-signed certificate, verification fails (and so does a wrong host name).
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(
            server.host,
            port=server.tls_port,
            ssl=True,
            ssl_context=ssl.create_default_context(),
            timeout=5,
        )
    with pytest.raises(ssl.SSLCertVerificationError):
        server.client("starttls", ssl_context=ssl.create_default_context())


def test_dovecot_missing_binary_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peer, "dovecot_binary", lambda: None)
    monkeypatch.delenv("UKETSUKE_REQUIRE_PEERS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="dovecot-imapd not installed"):
        peer.require_dovecot()
    monkeypatch.setenv("UKETSUKE_REQUIRE_PEERS", "1")
    with pytest.raises(pytest.fail.Exception, match="dovecot-imapd not installed"):
        peer.require_dovecot()


def test_dovecot_starts_and_answers(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Entering the server returns once it answers: a connection is accepted and greeted, a
    login sees an empty INBOX, and leaving stops it. (How fast it starts is no test's business.)"""
    peer.require_dovecot()
    with DovecotServer(tmp_path_factory.mktemp("dovecot-start")) as server:
        assert server.running
        with socket.create_connection((server.host, server.port), timeout=30) as sock:
            assert sock.recv(512).startswith(b"* OK")
        with server.client() as client:
            assert client.select_folder("INBOX")[b"EXISTS"] == 0
    assert not server.running
