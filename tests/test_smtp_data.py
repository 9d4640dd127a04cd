"""DATA read in chunks, dot-stuffing undone, large messages spooled (R29, R30; RFC 5321 4.5.2)."""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from intake.channels.smtp import REPLY_OK, REPLY_TOO_BIG, IntakeHandler
from intake.channels.smtpdata import DataCollector, read_data
from intake.config import Config, SmtpConfig
from intake.models import Incident, RawMessage, RawState
from intake.pipeline import Pipeline
from intake.spool import SPOOL_THRESHOLD, open_raw, spool_dir
from tests.smtpthread import ThreadedSmtpServer
from tests.test_smtp import HELPDESK, HOST, SENDER, deliver

LINE = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
DOTTY = st.sampled_from([b"", b".", b"..", b". ", b".x", b"x.", b"\r", b"\n", b"\n.", b"a\nb"])


def stuffed(lines: list[bytes]) -> bytes:
    """What a client sends: each line starting with "." gets one more (RFC 5321 4.5.2)."""
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


async def _collect(wire: bytes, pieces: list[int], limit: int, threshold: int, tmp: Path):
    reader = asyncio.StreamReader(limit=limit)
    collector = DataCollector(None, tmp, threshold=threshold)
    position = 0
    for size in pieces:
        reader.feed_data(wire[position : position + size])
        position += size
    reader.feed_data(wire[position:])
    reader.feed_eof()
    await read_data(reader, collector)
    return collector.result(), await reader.read()


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.one_of(LINE, DOTTY, st.tuples(DOTTY, LINE).map(b"".join)), max_size=30),
    pieces=st.lists(st.integers(1, 50), max_size=40),
    limit=st.sampled_from([8, 64, 1001]),
)
def test_r29_data_read_in_chunks_gives_the_lines_sent(
    lines: list[bytes], pieces: list[int], limit: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Whatever the chunking, the message is the lines as written, the final dot is the end,
    and what follows it (a pipelined command) stays for the session."""
    tmp = tmp_path_factory.mktemp("spool")
    wire = stuffed(lines) + b".\r\nQUIT\r\n"
    result, rest = asyncio.run(_collect(wire, pieces, limit, 10**9, tmp))
    expected = b"".join(line + b"\r\n" for line in lines)
    assert result.data == expected
    assert rest == b"QUIT\r\n"


def test_r29_data_over_the_threshold_goes_to_a_spool_file(tmp_path: Path) -> None:
    lines = [f"line {i:05d} {'x' * 60}".encode() for i in range(400)] + [b".dot", b"."]
    expected = b"".join(line + b"\r\n" for line in lines)
    result, _ = asyncio.run(_collect(stuffed(lines) + b".\r\n", [], 1001, 4096, tmp_path))
    assert result.data is None and result.spooled is not None
    assert result.size == len(expected)
    name = result.spooled.finish()
    assert name == hashlib.sha256(expected).hexdigest() + ".eml"
    assert (tmp_path / name).read_bytes() == expected
    assert list((tmp_path / "tmp").iterdir()) == []  # the temporary file was renamed


def test_r30_data_over_the_limit_is_discarded_without_a_trace(tmp_path: Path) -> None:
    collector = DataCollector(limit=10_000, spool_directory=tmp_path, threshold=1000)

    async def run() -> None:
        reader = asyncio.StreamReader(limit=1001)
        task = asyncio.create_task(read_data(reader, collector))
        for _ in range(500):  # as a network delivers it: a line at a time
            reader.feed_data(b"y" * 70 + b"\r\n")
            await asyncio.sleep(0)
        reader.feed_data(b".\r\nQUIT\r\n")
        reader.feed_eof()
        await task
        assert await reader.read() == b"QUIT\r\n"

    asyncio.run(run())
    assert collector.too_big and collector.size > 10_000
    assert list((tmp_path / "tmp").iterdir()) == []  # it was spooled, then removed


def big_message(size: int, message_id: str) -> bytes:
    head = (
        f"From: {SENDER}\r\nTo: {HELPDESK}\r\nSubject: =?utf-8?b?5aSn44GN44Gq5re75LuY?=\r\n"
        f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode()
    text = (
        "お世話になっております。\r\n社名：株式会社サンプル\r\n氏名：山田太郎\r\n"
        "ドメイン名：sample.co.jp\r\n顧客番号：C-10001\r\n\r\nログの解析をお願いします。\r\n"
        ".先頭がドットの行\r\n"
    ).encode()
    attachment = (
        b"--b1\r\nContent-Type: application/pdf; name=log.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
    )
    line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n"
    body = line * ((size - len(head) - len(text) - len(attachment)) // len(line))
    return head + text + attachment + body + b"--b1--\r\n"


def test_r29_large_message_is_spooled_stored_and_processed(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    """A message over the threshold goes to a spool file as it arrives; its row names the file;
    the 250 comes after both are durable; the processor reads it from the file."""
    config = Config(home=str(tmp_path))
    data = big_message(3 * SPOOL_THRESHOLD, "<big-spooled@customer.example.com>")
    with (
        ThreadedSmtpServer(IntakeHandler(config, sessions)) as running,
        smtplib.SMTP(HOST, running.port, timeout=60) as client,
    ):
        reply = deliver(client, data)
        again = deliver(client, data)  # a retry after a lost 250: the same row and file
    with sessions() as session:
        [row] = session.scalars(select(RawMessage)).all()
    assert reply == again == REPLY_OK.format(ids=row.id)
    assert row.data is None and row.spool == hashlib.sha256(data).hexdigest() + ".eml"
    assert row.size == len(data)
    spool = spool_dir(tmp_path)
    with open_raw(spool, row.data, row.spool) as content:
        assert content[:] == data
    assert list((spool / "tmp").iterdir()) == []

    pipeline = Pipeline(config, sessions)
    assert pipeline.process(row.id, row.received_at) == RawState.PROCESSED
    with sessions() as session:
        [incident] = session.scalars(select(Incident)).all()
    assert incident.subject == "大きな添付"


def test_r29_long_lines_are_accepted(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    """RFC 5321 caps lines at 1000 octets, but mail from broken mailers is still the customer's
    inquiry: it is stored as sent rather than refused (aiosmtpd alone answers 500)."""
    data = (
        (
            f"From: {SENDER}\r\nTo: {HELPDESK}\r\nSubject: long\r\nMessage-ID: <long@x>\r\n\r\n"
        ).encode()
        + b"z" * 5000
        + b"\r\n"
    )
    with (
        ThreadedSmtpServer(IntakeHandler(Config(home=str(tmp_path)), sessions)) as running,
        smtplib.SMTP(HOST, running.port, timeout=30) as client,
    ):
        reply = deliver(client, data)
    with sessions() as session:
        [row] = session.scalars(select(RawMessage)).all()
    assert reply == REPLY_OK.format(ids=row.id)
    assert row.data == data


def test_r30_too_big_spooled_message_leaves_no_file(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    config = Config(home=str(tmp_path), smtp=SmtpConfig(max_message_size=2 * SPOOL_THRESHOLD))
    data = big_message(3 * SPOOL_THRESHOLD, "<too-big@customer.example.com>")
    with (
        ThreadedSmtpServer(IntakeHandler(config, sessions)) as running,
        smtplib.SMTP(HOST, running.port, timeout=60) as client,
    ):
        assert deliver(client, data) == REPLY_TOO_BIG
    spool = spool_dir(tmp_path)
    assert not spool.exists() or not any(p.is_file() for p in spool.rglob("*"))
