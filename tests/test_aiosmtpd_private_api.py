"""What the SMTP door takes from aiosmtpd beyond its public API (R29: 250 only after commit).

``IntakeSMTP.smtp_DATA`` in ``intake/channels/smtp.py`` replaces aiosmtpd's DATA command: it
reads the stream through ``SMTP._reader`` (with ``intake/channels/smtpdata.py``), hands the
message to the handler with ``SMTP._call_handler_hook("DATA")`` (whose reply is the 250 after
commit, or the 451) and ends the transaction with ``SMTP._set_post_data_state()``.
``IntakeSMTP._getaddr`` replaces the address parse of MAIL and RCPT (its answers are compared
with aiosmtpd's own in tests/test_smtp_address.py). These are
private names; pyproject.toml pins aiosmtpd to the range these tests ran on (1.4.6). When a
release changes one of them, these tests fail first and name it, before a reply goes wrong.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import aiosmtpd
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from intake.channels.smtp import IntakeSMTP

VERSION = aiosmtpd.__version__
REVIEW = "intake/channels/smtp.py (IntakeSMTP.smtp_DATA) needs review"

# Each method smtp_DATA calls on SMTP (or overrides), with the parameters it relies on and
# whether it is awaited. Private ones first.
METHODS: dict[str, tuple[str, bool]] = {
    "_call_handler_hook": ("(self, command, *args)", True),  # smtp_DATA: ("DATA")
    "_set_post_data_state": ("(self)", False),  # smtp_DATA: ()
    "check_helo_needed": ("(self, helo='HELO')", True),  # smtp_DATA: ()
    "check_auth_needed": ("(self, caller_method)", True),  # smtp_DATA: ("DATA")
    "push": ("(self, status)", True),  # overridden: IntakeSMTP.push(status)
    "smtp_DATA": ("(self, arg)", True),  # overridden: aiosmtpd calls it with the argument
    "_getaddr": ("(self, arg)", False),  # overridden: smtp_MAIL and smtp_RCPT call it
}


def shape(function: Callable[..., Any]) -> str:
    """The signature without annotations: names, kinds and defaults are what calls rely on."""
    parameters = [
        parameter.replace(annotation=inspect.Parameter.empty)
        for parameter in inspect.signature(function).parameters.values()
    ]
    return str(inspect.Signature(parameters))


@pytest.mark.parametrize("name", list(METHODS))
def test_r29_aiosmtpd_methods_smtp_data_calls_keep_their_signatures(name: str) -> None:
    expected, awaited = METHODS[name]
    method = getattr(SMTP, name, None)
    assert method is not None, f"aiosmtpd {VERSION} removed SMTP.{name}: {REVIEW}"
    assert callable(method), f"aiosmtpd {VERSION} changed SMTP.{name} (not a method): {REVIEW}"
    assert shape(method) == expected, (
        f"aiosmtpd {VERSION} changed SMTP.{name}{shape(method)} (was {name}{expected}): {REVIEW}"
    )
    assert inspect.iscoroutinefunction(method) == awaited, (
        f"aiosmtpd {VERSION} changed SMTP.{name} "
        f"({'now' if not awaited else 'no longer'} a coroutine): {REVIEW}"
    )


class Handler:
    def __init__(self) -> None:
        self.calls: list[tuple[object, object, object]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.calls.append((server, session, envelope))
        return "250 stored"


def test_r29_call_handler_hook_passes_server_session_envelope_and_returns_the_reply() -> None:
    """The reply smtp_DATA sends is what handle_DATA returned (the 250 after commit)."""

    async def scenario() -> tuple[SMTP, Handler, object]:
        handler = Handler()
        server = SMTP(handler, loop=asyncio.get_running_loop())
        server.envelope = Envelope()  # as a connected session has it
        server.envelope.rcpt_tos.append("support@example.jp")
        return server, handler, await server._call_handler_hook("DATA")

    server, handler, status = asyncio.run(scenario())
    assert status == "250 stored", (
        f"aiosmtpd {VERSION} changed SMTP._call_handler_hook: it returned {status!r}, not "
        f"handle_DATA's reply: {REVIEW}"
    )
    assert handler.calls == [(server, server.session, server.envelope)], (
        f"aiosmtpd {VERSION} changed SMTP._call_handler_hook: handle_DATA is no longer called "
        f"with (server, session, envelope): {REVIEW}"
    )


def test_r29_set_post_data_state_ends_the_transaction_with_a_fresh_envelope() -> None:
    """After DATA, whatever happened, the next MAIL starts clean (no "503 nested MAIL")."""

    async def scenario() -> tuple[Envelope, Envelope]:
        server = SMTP(Handler(), loop=asyncio.get_running_loop())
        before = server.envelope = Envelope()  # as a connected session has it
        before.mail_from = "c@example.jp"
        before.rcpt_tos.append("support@example.jp")
        server._set_post_data_state()
        return before, server.envelope

    before, after = asyncio.run(scenario())
    assert isinstance(after, Envelope) and after is not before, (
        f"aiosmtpd {VERSION} changed SMTP._set_post_data_state: no fresh envelope: {REVIEW}"
    )
    assert after.mail_from is None and after.rcpt_tos == [], (
        f"aiosmtpd {VERSION} changed SMTP._set_post_data_state: the envelope keeps the "
        f"transaction: {REVIEW}"
    )


def test_r29_reader_is_the_stream_reader_of_a_connected_session() -> None:
    """smtp_DATA reads DATA from ``self._reader``: it must be the session's StreamReader once a
    client is connected (a real server on loopback, a real client)."""

    async def scenario() -> tuple[object, bytes]:
        loop = asyncio.get_running_loop()
        sessions: list[IntakeSMTP] = []

        def new_session() -> IntakeSMTP:
            session = IntakeSMTP(Handler(), hostname="uketsuke.test", loop=loop)
            sessions.append(session)
            return session

        server = await loop.create_server(new_session, host="127.0.0.1", port=0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        greeting = await reader.readline()
        found = getattr(sessions[0], "_reader", None)
        writer.write(b"QUIT\r\n")
        await reader.readline()
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return found, greeting

    found, greeting = asyncio.run(scenario())
    assert greeting.startswith(b"220 ")
    assert isinstance(found, asyncio.StreamReader), (
        f"aiosmtpd {VERSION} changed SMTP._reader (now {type(found).__name__}, not the "
        f"session's asyncio.StreamReader): {REVIEW}"
    )


def test_r29_envelope_takes_the_collected_message() -> None:
    """smtp_DATA hands the spooled message to handle_DATA as ``envelope.collected``."""
    envelope = Envelope()
    try:
        envelope.collected = object()  # type: ignore[attr-defined]
    except AttributeError:
        pytest.fail(f"aiosmtpd {VERSION} changed Envelope (no extra attributes): {REVIEW}")
    for name in ("content", "original_content", "rcpt_tos", "mail_from"):
        assert hasattr(envelope, name), f"aiosmtpd {VERSION} changed Envelope.{name}: {REVIEW}"
