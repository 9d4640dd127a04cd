"""Connecting to an IMAP mailbox (R7): TLS as configured or not at all, login, back-off.

A failed STARTTLS is an error, never a reason to go on in plaintext. What a log line may say
about an error is :func:`describe_error`: exception classes and TLS/socket reasons only, never
passwords, bodies or addresses.
"""

from __future__ import annotations

import contextlib
import ssl

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import IMAPClientError, LoginError

from intake.config import ImapConfig

# A hung server must not hold the loop forever; connecting is quick or not at all.
SOCKET_TIMEOUT = SocketTimeout(connect=10.0, read=60.0)
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 300.0


class ImapSecurityError(Exception):
    """TLS was configured but cannot be had; the poller refuses to go on in plaintext."""


def backoff_seconds(failures: int) -> float:
    """The wait after ``failures`` failed rounds in a row: 1 s, 2 s, 4 s, … at most 5 min."""
    return min(BACKOFF_FIRST_SECONDS * 2 ** min(max(failures - 1, 0), 30), BACKOFF_MAX_SECONDS)


def describe_error(error: BaseException) -> str:
    """What a log line may say about an error: its class and, for TLS and sockets, the reason.

    Never ``str(error)`` in general: a database error carries its SQL parameters (message bytes),
    a protocol error may echo what was sent.
    """
    name = type(error).__name__
    if isinstance(error, ssl.SSLCertVerificationError) and error.verify_message:
        return f"{name} ({error.verify_message})"
    if isinstance(error, ssl.SSLError) and error.reason:
        return f"{name} ({error.reason})"
    if isinstance(error, ImapSecurityError):
        return f"{name} ({error})"
    if isinstance(error, IMAPClientError) and not isinstance(error, LoginError):
        command, failed, _server_text = str(error).partition(" failed")
        if failed and command.isalpha():
            return f"{name} ({command} failed)"  # e.g. "select failed": a missing folder
    if isinstance(error, OSError) and error.strerror:
        return f"{name} ({error.strerror})"
    return name


def tls_context(config: ImapConfig) -> ssl.SSLContext:
    """Verification always on: against ``ca_file`` when set, else the system's CAs."""
    return ssl.create_default_context(cafile=config.ca_file or None)


def connect(config: ImapConfig) -> IMAPClient:
    """A logged-in client, over TLS or STARTTLS when configured (ImapSecurityError if not had)."""
    context = None if config.security == "plain" else tls_context(config)
    client = IMAPClient(
        config.host,
        port=config.port,
        ssl=config.security == "tls",
        ssl_context=context,
        timeout=SOCKET_TIMEOUT,
    )
    try:
        if config.security == "starttls":
            if not client.has_capability("STARTTLS"):
                raise ImapSecurityError("server does not offer STARTTLS")
            client.starttls(context)
        client.login(config.username, config.secret())
    except BaseException:
        disconnect(client, polite=False)
        raise
    return client


def disconnect(client: IMAPClient | None, *, polite: bool = True) -> None:
    """Log out, or (not ``polite``) just drop the socket.

    After an error the peer may be hung: a LOGOUT would wait out the read timeout before the
    loop could back off or stop.
    """
    if client is None:
        return
    if polite:
        try:
            client.logout()
            return
        except Exception:
            pass
    with contextlib.suppress(Exception):
        client.shutdown()
