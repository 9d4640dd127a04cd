"""The IMAP door (R7 email channel): a polled mailbox, marked only after commit #1 (R29).

:class:`ImapPoller` reads new messages with ``BODY.PEEK[]`` (so nothing is ``\\Seen`` early),
commits each batch through :func:`store_raw_many`, and only when a whole batch is committed flags it
(``\\Seen`` + keyword) or moves it, in one command. A crash anywhere before that leaves the mail
as it was, and the next poll finds it again; :func:`store_raw_many` recognises what was committed
already (source key ``imap:NAME:UIDVALIDITY:UID``, else Message-ID + content hash), so a message
seen twice is stored once. This is the reverse of Roundup's ``do_imap``, which marks
``\\Deleted`` first (docs/architecture.md, "The two commits").

Where the poller stands (UIDVALIDITY, last UID) and who may poll (a lease: docs/architecture.md,
"Processes and threads") live in ``mailbox_state`` (:mod:`intake.channels.mailboxstate`).
Connecting, TLS (as configured or not at all) and back-off are in :mod:`intake.channels.imapconn`.
Logs name the mailbox and exception classes only: never passwords, bodies or addresses.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from sqlalchemy.orm import Session, sessionmaker

from intake.channels.imapconn import (
    ImapSecurityError,
    backoff_seconds,
    connect,
    describe_error,
    disconnect,
)
from intake.channels.mailboxstate import MailboxLease, default_owner
from intake.config import ImapConfig
from intake.store import Incoming, store_raw_many

__all__ = ["ImapPoller", "ImapSecurityError", "backoff_seconds"]

log = logging.getLogger("uketsuke.imap")

LEASE_RENEW_SECONDS = 30.0
IDLE_MAX_SECONDS = 29 * 60  # RFC 2177: re-issue IDLE at least every 29 minutes
IDLE_TICK_SECONDS = 0.5  # how often an idling run() looks at its stop event

SEEN = b"\\Seen"
DELETED = b"\\Deleted"


class ConnectionLost(Exception):
    """The server said BYE, or closed the connection, while the poller was idling."""


@dataclass(frozen=True)
class PollResult:
    """One pass over the folder: what was stored, what was marked, where the folder stood."""

    stored: int
    marked: int
    uidvalidity: int
    uidnext: int | None


class ImapPoller:
    """Polls one configured mailbox (R7) and marks messages only after commit (R29).

    ``poll_once`` is one complete pass on its own connection; ``run`` is the daemon's loop (IDLE
    when the server has it, backoff on errors). ``on_stored(id)`` is called after the commit of
    each newly stored message; its errors are logged and change nothing.
    """

    def __init__(
        self,
        config: ImapConfig,
        sessions: sessionmaker[Session],
        default_profile: str,
        on_stored: Callable[[int], None] | None = None,
        owner: str | None = None,
        spool: Path | None = None,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.spool = spool  # where messages over the spool threshold are kept
        self.profile = config.profile or default_profile
        self.on_stored = on_stored
        self._state = MailboxLease(sessions, config.name, owner or default_owner())
        self._warned_no_uidplus = False
        # imapclient logs the whole conversation at DEBUG (user names, message bodies).
        imapclient_log = logging.getLogger("imapclient")
        if imapclient_log.level == logging.NOTSET:
            imapclient_log.setLevel(logging.WARNING)

    # -- public -----------------------------------------------------------------------------

    def poll_once(self) -> int:
        """Connect, store what is new, mark it, disconnect; returns how many were stored new.

        Returns 0 without connecting when another instance holds the mailbox's lease. Errors
        (login, TLS, storage, connection) propagate; the mailbox is then as it was, apart from
        batches that were committed in full before the error.
        """
        if not self.take_lease():
            log.debug("imap %s: lease held by another instance; skipped", self.config.name)
            return 0
        with self._connection() as client:
            return self._poll(client).stored

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set; never raises, never falls back to plaintext.

        Between polls: IDLE (up to ``poll_seconds``, at most 29 min) when configured and offered,
        else a sleep of ``poll_seconds``. Any error closes the connection, is logged in one line
        and is retried after 1 s, 2 s, 4 s, … (at most 5 min); a successful poll resets that.
        """
        client: IMAPClient | None = None
        failures = 0
        try:
            while not stop.is_set():
                try:
                    if not self.take_lease():
                        disconnect(client)
                        client = None
                        stop.wait(self.config.poll_seconds)
                        continue
                    if client is None:
                        client = self._connect()
                    result = self._poll(client, stop)
                    if failures:
                        log.info(
                            "imap %s: polling again after %d failures", self.config.name, failures
                        )
                    failures = 0
                    if self.config.idle and client.has_capability("IDLE"):
                        self._idle(client, stop, result)
                    else:
                        disconnect(client)
                        client = None
                        stop.wait(self.config.poll_seconds)
                except Exception as error:
                    disconnect(client, polite=False)
                    client = None
                    failures += 1
                    delay = backoff_seconds(failures)
                    reason = describe_error(error)
                    unset = self.config.missing_password()
                    if isinstance(error, LoginError) and unset:
                        reason += f" (no password: {unset} is not set)"
                    log.warning("imap %s: %s; retrying in %g s", self.config.name, reason, delay)
                    stop.wait(delay)
        finally:
            disconnect(client)
            with contextlib.suppress(Exception):
                self.release_lease()

    def take_lease(self) -> bool:
        """Take or renew this mailbox's lease (2 minutes); False when another owner holds it."""
        return self._state.take()

    def release_lease(self) -> None:
        """Give the lease up at once (on shutdown), so another instance need not wait it out."""
        self._state.release()

    # -- connection ---------------------------------------------------------------------------

    def _connect(self) -> IMAPClient:
        return connect(self.config)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[IMAPClient]:
        client = self._connect()
        try:
            yield client
        except BaseException:
            disconnect(client, polite=False)
            raise
        disconnect(client)

    # -- one pass -------------------------------------------------------------------------------

    def _poll(self, client: IMAPClient, stop: threading.Event | None = None) -> PollResult:
        config = self.config
        selected = client.select_folder(config.folder)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        uidnext = _uidnext(selected)
        known_validity, last_uid = self._state.position()
        if known_validity != uidvalidity:
            if known_validity is not None:
                # UIDs of the old UIDVALIDITY mean nothing now: read everything again; what was
                # stored already is recognised by Message-ID + content hash (R29).
                log.warning(
                    "imap %s: UIDVALIDITY changed (%d -> %d); reading the folder again",
                    config.name,
                    known_validity,
                    uidvalidity,
                )
            last_uid = 0
            self._state.save_position(uidvalidity, 0)
        uids = self._unmarked_after(client, last_uid)
        stored = marked = 0
        for start in range(0, len(uids), config.batch_size):
            if stop is not None and stop.is_set():
                break
            batch = uids[start : start + config.batch_size]
            new, done = self._store_batch(client, batch, uidvalidity)
            if done:
                self._mark(client, done)
            stored += new
            marked += len(done)
            if not self._state.save_position(uidvalidity, batch[-1]):
                log.warning("imap %s: lease lost during a poll; stopping it", config.name)
                break
        if stored or marked:
            log.info(
                "imap %s: stored %d new, marked %d (%d already stored)",
                config.name,
                stored,
                marked,
                marked - stored,
            )
        self._state.succeeded()
        return PollResult(stored, marked, uidvalidity, uidnext)

    def _unmarked_after(self, client: IMAPClient, last_uid: int) -> list[int]:
        """UIDs above ``last_uid`` not yet marked, ascending (``n:*`` always matches the last)."""
        criteria: list[str] = ["UID", f"{last_uid + 1}:*"]
        if self.config.after == "flag":
            criteria += ["NOT", "KEYWORD", self.config.keyword]
        else:
            criteria += ["NOT", "DELETED"]
        return sorted(uid for uid in client.search(criteria) if uid > last_uid)

    def _store_batch(
        self, client: IMAPClient, batch: list[int], uidvalidity: int
    ) -> tuple[int, list[int]]:
        """Commit each message of the batch (commit #1); returns (stored new, UIDs committed)."""
        fetched = client.fetch(batch, [b"BODY.PEEK[]"])
        present = [uid for uid in batch if fetched.get(uid, {}).get(b"BODY[]") is not None]
        # (a UID missing from the answer was expunged by someone else meanwhile)
        results = store_raw_many(
            self.sessions,
            [
                Incoming(
                    fetched[uid][b"BODY[]"],
                    source_key=f"imap:{self.config.name}:{uidvalidity}:{uid}",
                    channel="imap",
                    profile=self.profile,
                )
                for uid in present
            ],
            self.spool,
        )
        new = 0
        for result in results:
            if not result.duplicate:
                new += 1
                self._announce(result.id)
        return new, present

    def _mark(self, client: IMAPClient, uids: list[int]) -> None:
        """Flag or move a committed batch in one command (R29: never before the commit)."""
        config = self.config
        if config.after == "flag":
            client.add_flags(uids, [SEEN, config.keyword], silent=True)
            return
        if not client.folder_exists(config.move_to):
            try:
                client.create_folder(config.move_to)
            except IMAPClientError:
                if not client.folder_exists(config.move_to):  # not a race with another creator
                    raise
        if client.has_capability("MOVE"):
            client.move(uids, config.move_to)
            return
        # COPY + \Deleted + UID EXPUNGE of exactly these UIDs; a plain EXPUNGE would also
        # remove whatever else someone marked \Deleted in the folder.
        client.copy(uids, config.move_to)
        client.add_flags(uids, [DELETED], silent=True)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        elif not self._warned_no_uidplus:
            self._warned_no_uidplus = True
            log.warning(
                "imap %s: server has neither MOVE nor UIDPLUS; copies left marked \\Deleted",
                config.name,
            )

    def _announce(self, raw_id: int) -> None:
        if self.on_stored is None:
            return
        try:
            self.on_stored(raw_id)
        except Exception as error:
            log.warning("on_stored(%d) failed (%s); message kept", raw_id, describe_error(error))

    # -- waiting --------------------------------------------------------------------------------

    def _idle(self, client: IMAPClient, stop: threading.Event, last: PollResult) -> None:
        """IDLE until new mail, the end of the period, or ``stop`` (checked every 0.5 s).

        Dovecot reports during IDLE only what arrives after IDLE began, and the commands of a
        poll swallow its other notices: so first SELECT again, and poll at once if UIDNEXT moved
        since the poll's own SELECT.
        """
        selected = client.select_folder(self.config.folder)
        if int(selected[b"UIDVALIDITY"]) != last.uidvalidity or _uidnext(selected) != last.uidnext:
            return
        started = time.monotonic()
        deadline = started + min(self.config.poll_seconds, IDLE_MAX_SECONDS)
        renew_at = started + LEASE_RENEW_SECONDS
        client.idle()
        while not stop.is_set():
            now = time.monotonic()
            if now >= deadline:
                break
            if now >= renew_at:
                if not self.take_lease():
                    break
                self._state.succeeded()  # the connection is alive and the folder watched
                renew_at = now + LEASE_RENEW_SECONDS
            wait = min(IDLE_TICK_SECONDS, deadline - now)
            if not select.select([client.socket()], [], [], wait)[0]:
                continue
            responses = client.idle_check(timeout=0)
            if any(response[:1] == (b"BYE",) for response in responses):
                raise ConnectionLost("server said BYE")
            if _announces_mail(responses):
                break
            if not responses:
                break  # readable but nothing to read: closed? idle_done below will tell
        client.idle_done()


def _uidnext(selected: dict[bytes, object]) -> int | None:
    value = selected.get(b"UIDNEXT")
    return int(value) if isinstance(value, int) else None


def _announces_mail(responses: list[tuple[object, ...]]) -> bool:
    """EXISTS (or RECENT above 0) in untagged responses: new mail arrived."""
    for response in responses:
        if len(response) >= 2 and response[1] == b"EXISTS":
            return True
        if len(response) >= 2 and response[1] == b"RECENT" and response[0] != 0:
            return True
    return False
