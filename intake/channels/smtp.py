"""The SMTP door (R7 email channel): 250 only after commit #1, clear refusals (R29, R30).

Built on aiosmtpd: :class:`IntakeHandler` holds the rules (which recipients we own, when a message
is safe), :class:`IntakeSMTP` is aiosmtpd's protocol with its hard-coded size replies swapped for
ours and a clean slate after a failed DATA. The daemon calls :func:`start_smtp_server` on its
event loop; the tests use ``tests.smtpthread.ThreadedSmtpServer``, which runs the same server on
its own thread and loop.

Logs name exception classes and recipient domains only: never bodies or full addresses.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import traceback
import unicodedata
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP, Envelope, Session, syntax
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from intake.channels.smtpaddr import parse_address, within_local_part_limit
from intake.channels.smtpdata import Collected, DataCollector, read_data
from intake.config import Config, ConfigError, SmtpConfig
from intake.groupcommit import GroupCommit
from intake.spool import SpooledData, spool_dir
from intake.store import Incoming

log = logging.getLogger("uketsuke.smtp")

REPLY_OK = "250 2.0.0 OK: stored as {ids}"
REPLY_RCPT_OK = "250 2.1.5 OK"
REPLY_SENDER_OK = "250 2.1.0 OK"
REPLY_STORAGE_FAILED = "451 4.3.0 Temporary storage failure, try again later"
REPLY_INTERNAL = "451 4.3.0 Local error, try again later"
REPLY_TOO_BIG = "552 5.3.4 Message too big"
REPLY_NO_RELAY = "550 5.1.1 Recipient not accepted here"
REPLY_BAD_ADDRESS = "501 5.1.3 Bad recipient address syntax"
REPLY_BAD_SENDER = "501 5.1.7 Bad sender address syntax"

IDENT = "ESMTP uketsuke"
# PostgreSQL: group-commit writers sending batches side by side (SQLite: one, it has one writer).
POSTGRES_WRITERS = 2
CLOSE_GRACE_SECONDS = 10.0
MAX_PATH_LENGTH = 320  # RawMessage.envelope_from; RFC 5321 allows 64 + 1 + 255 at most

# aiosmtpd's own replies for an oversized message, without an enhanced status code (R30).
_UPSTREAM_TOO_BIG = frozenset(
    {
        "552 Error: Too much mail data",
        "552 Error: message size exceeds fixed maximum message size",
    }
)


def _domain(address: str) -> str:
    """All a log line may say about an address: its domain."""
    return address.rpartition("@")[2] or "-"


def _unusable(address: str) -> bool:
    """Text the database cannot hold faithfully: undecodable bytes, control characters."""
    return any(0xD800 <= ord(c) <= 0xDFFF or unicodedata.category(c) == "Cc" for c in address)


class IntakeHandler:
    """aiosmtpd hooks: refuse at RCPT what no profile owns, answer 250 only after commit #1.

    ``on_stored(id)`` is called on the event loop thread for each stored (or already stored) raw
    message, after its commit: the daemon wakes the processor with it. Its errors are logged and
    never change the reply, which is due because the message is safe.
    """

    def __init__(
        self,
        config: Config,
        sessions: sessionmaker[DbSession],
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.on_stored = on_stored
        self._group: GroupCommit | None = None

    @property
    def group(self) -> GroupCommit:
        """The group-commit writer, started on first use (one per handler)."""
        if self._group is None:
            sqlite = self.sessions.kw["bind"].dialect.name == "sqlite"
            self._group = GroupCommit(
                self.sessions,
                spool_dir(self.config.home_path),
                writers=1 if sqlite else POSTGRES_WRITERS,
            )
        return self._group

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        # aiosmtpd offers AUTH after STARTTLS even with no authenticator (every login fails).
        session.host_name = hostname
        return [line for line in responses if not line.startswith("250-AUTH")]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        # A sender we could not store would earn a 451 on every retry: refuse it now (R30).
        if len(address.encode("utf-8", "surrogateescape")) > MAX_PATH_LENGTH or _unusable(address):
            return REPLY_BAD_SENDER
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return REPLY_SENDER_OK

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        local, at, domain = address.rpartition("@")
        if (at and (not local or not domain)) or _unusable(address):
            return REPLY_BAD_ADDRESS
        if self.config.profile_for_address(address) is None:
            log.info("refused recipient at %r: no profile owns it", _domain(address))
            return REPLY_NO_RELAY
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return REPLY_RCPT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        collected: Collected | None = getattr(envelope, "collected", None)
        data: bytes | SpooledData
        if collected is not None and collected.spooled is not None:
            data, size = collected.spooled, collected.size
        else:
            data = envelope.original_content or b""
            size = len(data)
        sender = "" if envelope.mail_from == "<>" else envelope.mail_from  # "" = null sender
        deliveries: dict[str, list[str]] = {}
        for address in dict.fromkeys(envelope.rcpt_tos):
            profile = self.config.profile_for_address(address)
            if profile is not None:  # always so: handle_RCPT accepted only owned addresses
                deliveries.setdefault(profile, []).append(address)
        try:
            # The group-commit thread: the loop keeps serving other sessions meanwhile, and
            # sessions finishing DATA together share one commit (each still waits for it).
            stored = await asyncio.wrap_future(
                self.group.submit(
                    [
                        Incoming(
                            data,
                            channel="smtp",
                            profile=profile,
                            envelope_from=sender,
                            envelope_to=tuple(recipients),
                        )
                        for profile, recipients in deliveries.items()
                    ]
                )
            )
        except Exception as exc:
            domains = ",".join(sorted({_domain(a) for a in envelope.rcpt_tos}))
            log.warning("storage failed (%s), mail to %r: 451", type(exc).__name__, domains)
            return REPLY_STORAGE_FAILED
        for item in stored:
            seen = "already stored as" if item.duplicate else "stored as"
            log.info("%d bytes %s raw message %d", size, seen, item.id)
            self._announce(item.id)
        return REPLY_OK.format(ids=",".join(str(item.id) for item in stored))

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default answers "500 Error: (Exc) text": internal text, and a permanent code
        # for what is our fault. The traceback has code lines only, no values.
        log.error(
            "unexpected %s in an SMTP session: answered 451\n%s",
            type(error).__name__,
            "".join(traceback.format_tb(error.__traceback__)),
        )
        return REPLY_INTERNAL

    def close(self) -> None:
        """Stop the group-commit writer after the commits already asked for."""
        if self._group is not None:
            self._group.close()
            self._group = None

    def _announce(self, raw_id: int) -> None:
        if self.on_stored is None:
            return
        try:
            self.on_stored(raw_id)
        except Exception as exc:
            log.warning("on_stored(%d) failed (%s); message kept", raw_id, type(exc).__name__)


class IntakeSMTP(SMTP):
    """aiosmtpd's SMTP protocol, changed in three places only.

    - ``_getaddr``: the same parse, done once per address text (:mod:`.smtpaddr`).
    - ``push``: aiosmtpd hard-codes its oversize reply for MAIL FROM SIZE= with no enhanced
      status code; it goes out as :data:`REPLY_TOO_BIG` (R30).
    - ``smtp_DATA``: the message is read in chunks by :mod:`intake.channels.smtpdata` (bounded
      memory: large messages go straight to a spool file), the transaction is over after the
      reply to DATA whatever happened (aiosmtpd would keep the envelope after a handler error,
      and the client's next MAIL would get "503 nested MAIL"), and the session is marked busy
      while receiving, so a closing server lets the transfer finish.
    """

    receiving = False

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's, without its class made at every call (``intake.channels.smtpaddr``)."""
        address, rest = parse_address(arg)
        if address and not within_local_part_limit(address, self.local_part_limit):
            return None, None
        return address, rest

    async def push(self, status: str | bytes) -> None:
        if isinstance(status, str) and status in _UPSTREAM_TOO_BIG:
            status = REPLY_TOO_BIG
        await super().push(status)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        handler: IntakeHandler = self.event_handler
        collector = DataCollector(self.data_size_limit, spool_dir(handler.config.home_path))
        self.receiving = True
        try:
            try:
                await read_data(self._reader, collector)
            except BaseException:
                collector.discard()  # the connection is gone: no reply, the client retries
                raise
            if collector.too_big:
                self._set_post_data_state()
                await self.push(REPLY_TOO_BIG)
                return
            collected = collector.result()
            self.envelope.original_content = collected.data
            self.envelope.content = collected.data
            self.envelope.collected = collected  # type: ignore[attr-defined]
            try:
                status = await self._call_handler_hook("DATA")
            finally:
                self._set_post_data_state()
                if collected.spooled is not None and collected.spooled.name is None:
                    collected.spooled.discard()  # not stored (a 451): the client sends again
            await self.push(status)
        finally:
            self.receiving = False


def tls_context(smtp: SmtpConfig) -> ssl.SSLContext | None:
    """The STARTTLS context when both smtp.tls_cert and smtp.tls_key are set, else None."""
    if not smtp.tls_cert and not smtp.tls_key:
        return None
    if not (smtp.tls_cert and smtp.tls_key):
        missing = "smtp.tls_key" if smtp.tls_cert else "smtp.tls_cert"
        raise ConfigError(f"{missing}: needed for STARTTLS (set both tls_cert and tls_key)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(smtp.tls_cert, smtp.tls_key)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"smtp.tls_cert/smtp.tls_key: cannot load ({reason})") from None
    return context


@dataclass
class SmtpServer:
    """A listening SMTP door on the running loop; ``port`` is the port actually bound."""

    host: str
    port: int
    handler: IntakeHandler
    _server: asyncio.Server = field(repr=False)
    _sessions: weakref.WeakSet[IntakeSMTP] = field(repr=False)

    async def close(self, grace: float = CLOSE_GRACE_SECONDS) -> None:
        """Stop accepting; give transfers under way up to ``grace`` seconds; drop the rest.

        A session dropped mid-commit gets no reply, so its client retries and the copy already
        committed is found again (R29): nothing is lost and nothing was promised.
        """
        self._server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while any(s.receiving for s in self._sessions) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        await self._server.wait_closed()
        await asyncio.to_thread(self.handler.close)


async def serve_smtp(handler: IntakeHandler, host: str, port: int) -> SmtpServer:
    """Listen on ``host:port`` (port 0: a free port) with the handler's configuration."""
    loop = asyncio.get_running_loop()
    smtp = handler.config.smtp
    context = tls_context(smtp)
    hostname = await asyncio.to_thread(socket.getfqdn)  # aiosmtpd would ask on every connection
    mail_log = logging.getLogger("mail.log")  # aiosmtpd logs full addresses at INFO, data at DEBUG
    if mail_log.level == logging.NOTSET:
        mail_log.setLevel(logging.WARNING)
    sessions: weakref.WeakSet[IntakeSMTP] = weakref.WeakSet()

    def new_session() -> IntakeSMTP:
        session = IntakeSMTP(
            handler,
            data_size_limit=smtp.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=hostname,
            ident=IDENT,
            tls_context=context,
            loop=loop,
        )
        sessions.add(session)
        return session

    server = await loop.create_server(new_session, host=host, port=port)
    bound_host, bound_port = server.sockets[0].getsockname()[:2]
    log.info("SMTP door listening on %s:%d", bound_host, bound_port)
    return SmtpServer(bound_host, bound_port, handler, server, sessions)


async def start_smtp_server(
    config: Config,
    sessions: sessionmaker[DbSession],
    on_stored: Callable[[int], None] | None = None,
    host: str | None = None,
    port: int | None = None,
) -> SmtpServer:
    """The daemon's SMTP door on the running loop; host and port default to ``[smtp]``."""
    handler = IntakeHandler(config, sessions, on_stored)
    return await serve_smtp(
        handler,
        config.smtp.host if host is None else host,
        config.smtp.port if port is None else port,
    )
