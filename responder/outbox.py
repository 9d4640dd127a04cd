"""The outbox: mail is queued as rows in the sender's transaction, sent afterwards with retries.

A failed relay delays mail, never loses it (docs/architecture.md, "The flow of one message").
R16: a due row survives restarts
and crashes; one sent late is still sent and recorded as late. A kind of mail that can only be
finished when it is sent (the license key, R14–R16) gives the dispatcher a :class:`SendHook`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session, defer, sessionmaker

from intake.db import read_sessions
from intake.fastsql import Pending, Prebuilt
from intake.models import OutboxMail, UtcDateTime
from intake.states import UNSENT, OutboxKind, OutboxState
from intake.text import elapsed
from responder.transports import Transport

log = logging.getLogger("uketsuke.outbox")

# Mails delivered at once (each on its own connection to the relay, with its own timeout).
PARALLEL_SENDS = 4

LATE_AFTER = timedelta(minutes=5)
_INSERT_OUTBOX = Prebuilt(insert(OutboxMail.__table__))
_OUTBOX = OutboxMail.__table__.c
_COUNT_AUTOMATIC = Prebuilt(
    select(func.count())
    .select_from(OutboxMail.__table__)
    .where(
        _OUTBOX.rate_key == bindparam("recipient"),
        _OUTBOX.automatic.is_(True),
        _OUTBOX.created_at > bindparam("since", type_=UtcDateTime()),
    )
)
MAX_BACKOFF = timedelta(hours=1)
_AHEAD = "uketsuke.rate_count_ahead"  # session.info: R27 counts sent ahead (count_ahead)


def queue_bytes(
    session: Session,
    *,
    kind: OutboxKind,
    profile: str,
    recipients: list[str],
    data: bytes,
    message_id: str,
    now: datetime,
    due_at: datetime | None = None,
    incident_id: int | None = None,
    automatic: bool = True,
    payload: dict[str, Any] | None = None,
) -> None:
    """Add a composed mail to the outbox in the caller's transaction (sent only after it
    commits); ``responder.queue.queue_mail`` makes the bytes.

    ``payload``: what a :class:`SendHook` needs to finish the mail when it is sent."""
    values = dict(
        kind=kind,
        profile=profile,
        incident_id=incident_id,
        message_id=message_id,
        recipients=recipients,
        automatic=automatic,
        rate_key=recipients[0].lower() if automatic and recipients else None,
        data=data,
        due_at=due_at or now,
        created_at=now,
        state=OutboxState.PENDING,
        attempts=0,
        late=False,
    )
    if payload is not None:  # else SQL NULL, as before, rather than a JSON null
        values["payload"] = payload
    if values["rate_key"] and (ahead := session.info.get(_AHEAD)):  # a count sent is stale
        for key in [key for key in ahead if key[0] == values["rate_key"]]:
            del ahead[key]
    # Core: on the intake hot path, no ORM unit of work
    _INSERT_OUTBOX.run(session.connection(), values)


def _hour_of(recipient: str, now: datetime) -> dict[str, Any]:
    """R27's count's values: the recipient, and the hour before ``now``."""
    return {"recipient": recipient.lower(), "since": now - timedelta(hours=1)}


def automatic_mails_in_last_hour(session: Session, recipient: str, now: datetime) -> int:
    """R27: how many automatic mails this recipient got in the hour before ``now``."""
    values = _hour_of(recipient, now)
    ahead: dict[tuple[str, datetime], Pending] | None = session.info.get(_AHEAD)
    sent = ahead.pop((values["recipient"], values["since"]), None) if ahead else None
    if sent is not None:
        return sent.scalar() or 0
    # prebuilt: a plain count needs no ORM machinery
    return _COUNT_AUTOMATIC.scalar(session.connection(), values) or 0


@contextmanager
def count_ahead(session: Session, recipient: str, now: datetime) -> Iterator[None]:
    """Send R27's count for ``recipient`` now, for :func:`automatic_mails_in_last_hour` to
    read inside the block: on PostgreSQL it travels with the round trip the block makes anyway
    (``intake.accept`` sends it before the incidents' INSERTs, whose numbers the acknowledgment
    needs). An automatic mail queued for the recipient meanwhile makes the count stale: it is
    dropped (:func:`queue_bytes`) and counted again."""
    values = _hour_of(recipient, now)
    ahead = session.info.setdefault(_AHEAD, {})
    ahead[(values["recipient"], values["since"])] = _COUNT_AUTOMATIC.send(
        session.connection(), values
    )
    try:
        yield
    finally:
        ahead.clear()


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def first_due(row: OutboxMail) -> datetime:
    """When the row was first due. Backoff moves ``due_at``; a mail whose day is promised (the
    key mail, R14) keeps its first due time in ``payload["due_at"]`` and is judged late by it
    (R16), however many retries it took."""
    first = (row.payload or {}).get("due_at")
    return datetime.fromisoformat(first) if first else row.due_at


# SQLite: deliveries that ended are marked in one write transaction once this many ended, or the
# first of them ended this long ago (a slow recipient never delays the others' records more).
MARK_BATCH = 20
MARK_AFTER_SECONDS = 0.5


class _Ended:
    """Deliveries that ended and are not yet recorded (SQLite's batching of the marks)."""

    def __init__(self) -> None:
        self.outcomes: dict[int, Exception | None] = {}
        self.since = 0.0

    def collect(self, running: dict[Future[Exception | None], int]) -> None:
        """Wait until a delivery ends, or until the oldest ended one is due to be recorded."""
        timeout = None
        if self.outcomes:
            timeout = max(self.since + MARK_AFTER_SECONDS - time.monotonic(), 0.0)
        done, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
        if done and not self.outcomes:
            self.since = time.monotonic()
        for future in done:
            self.outcomes[running.pop(future)] = future.result()

    def due(self) -> bool:
        if len(self.outcomes) >= MARK_BATCH:
            return True
        return bool(self.outcomes) and time.monotonic() - self.since >= MARK_AFTER_SECONDS

    def take(self) -> dict[int, Exception | None]:
        outcomes, self.outcomes = self.outcomes, {}
        return outcomes


class SendHook(Protocol):
    """A kind of mail finished when it is sent, not when queued (the license key, R14–R16)."""

    def compose(self, row: OutboxMail, now: datetime) -> bytes:
        """The bytes to deliver, never stored; raising delays the row like a relay failure,
        so the exception's text (stored as ``last_error``) must hold nothing secret."""
        ...

    def failed(self, session: Session, row: OutboxMail, now: datetime) -> None:
        """The row's first failure, in the transaction that records it (e.g. alert staff)."""
        ...

    def sent(self, session: Session, row: OutboxMail, now: datetime) -> None:
        """The row was delivered, in the transaction that records it (e.g. start a clock)."""
        ...


class Dispatcher:
    """Sends due outbox rows, up to PARALLEL_SENDS at once, each recorded as its delivery ends.

    PostgreSQL: each row is claimed with SKIP LOCKED in its own transaction on a sender thread,
    so two instances never share one, delivered under that lock (row locks block no other
    writer) and committed at once. SQLite has one writer at a time: there the rows are read,
    delivered with no transaction open (a slow relay must not hold up the doors' commits), and
    the deliveries that ended are marked in one short write transaction while the others go on.

    Either way a crash after delivery and before the commit sends the row again: into the
    Maildir that replaces its own file; through a relay the repeat carries the same Message-ID
    (R16).

    ``hooks`` finish rows of their kind at send time, with no transaction open on SQLite and
    under the row's lock on PostgreSQL. A hook runs on every attempt: a relay failure after a
    license key was issued issues a new key on the retry (the first was never delivered), and so
    does a crash between delivery and commit.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        transport: Transport,
        sender_of: Callable[[str], str],
        max_attempts: int = 12,
        hooks: Mapping[str, SendHook] | None = None,
    ) -> None:
        self.sessions = sessions
        self.transport = transport
        self.sender_of = sender_of
        self.max_attempts = max_attempts
        self.hooks = dict(hooks or {})
        self.reads = read_sessions(sessions)
        # The relay's state, logged once when it changes (not once a tick, once a mail).
        self._senders: ThreadPoolExecutor | None = None
        self.failing_since: datetime | None = None
        self._failures = 0
        self._tick_failed = 0  # deliveries that failed in this tick, and the last one's class
        self._tick_error = ""
        self._lock = threading.Lock()

    def due_ids(self, now: datetime, limit: int = 100) -> list[int]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(OutboxMail.id)
                    .where(OutboxMail.state == OutboxState.PENDING, OutboxMail.due_at <= now)
                    .order_by(OutboxMail.due_at, OutboxMail.id)
                    .limit(limit)
                )
            )

    def run_once(self, now: datetime) -> int:
        """Send what is due (at most 100 mails a tick), each recorded as its delivery ends."""
        self._tick_failed, self._tick_error = 0, ""
        sent = self.send_many(self.due_ids(now), now)
        self._relay_state(sent, now)
        return sent

    def _relay_state(self, sent: int, now: datetime) -> None:
        """One WARNING when every delivery of a tick fails, one INFO when mail goes out again;
        each mail's own error is on its row (``outbox list``)."""
        failed = self._tick_failed
        if failed and not sent:
            self._failures += failed
            if self.failing_since is None:
                self.failing_since = now
                log.warning(
                    "relay failing: %d mail(s) not delivered (%s); retrying each with back-off",
                    failed,
                    self._tick_error,
                )
        elif sent and self.failing_since is not None:
            log.info(
                "relay delivering again after %s (%d failed attempts meanwhile)",
                elapsed((now - self.failing_since).total_seconds()),
                self._failures,
            )
            self.failing_since = None
            self._failures = 0

    def send_many(self, row_ids: list[int], now: datetime) -> int:
        """Deliver and record these rows, up to PARALLEL_SENDS at once, each recorded as soon as
        its delivery ends: one slow or failing recipient holds up one sender, never the
        others, and never the recording of theirs."""
        if self.sessions.kw["bind"].dialect.name == "sqlite":
            return self._send_then_mark(row_ids, now)
        if len(row_ids) <= 1:
            return sum(self._send_locked(row_id, now) for row_id in row_ids)
        return sum(self._senders_().map(lambda row_id: self._send_locked(row_id, now), row_ids))

    def _send_locked(self, row_id: int, now: datetime) -> int:
        """PostgreSQL: one row in its own transaction, claimed with SKIP LOCKED (another
        instance skips it), delivered under its lock, recorded and committed at once."""
        with self.sessions.begin() as session:
            row = session.scalars(
                select(OutboxMail)
                .where(OutboxMail.id == row_id, OutboxMail.state == OutboxState.PENDING)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return 0
            return self._record(session, row, self._deliver(row, now), now)

    def _send_then_mark(self, row_ids: list[int], now: datetime) -> int:
        """SQLite: rows read one by one and delivered with no transaction open (a slow relay
        must not hold up the doors' commits). The deliveries that ended are marked together in
        one short write transaction once MARK_BATCH of them ended, or the first of them ended
        MARK_AFTER_SECONDS ago, while the others are still under way."""
        running: dict[Future[Exception | None], int] = {}
        ended = _Ended()
        sent = 0
        for row_id in row_ids:
            while len(running) >= PARALLEL_SENDS:
                ended.collect(running)
                sent += self._mark_if_due(ended, now)
            with self.reads() as session:
                row = session.scalars(
                    select(OutboxMail).where(
                        OutboxMail.id == row_id, OutboxMail.state == OutboxState.PENDING
                    )
                ).first()
            if row is not None:
                running[self._senders_().submit(self._deliver, row, now)] = row.id
        while running:
            ended.collect(running)
            sent += self._mark_if_due(ended, now)
        return sent + self._mark(ended.take(), now)

    def _mark_if_due(self, ended: _Ended, now: datetime) -> int:
        return self._mark(ended.take(), now) if ended.due() else 0

    def _mark(self, outcomes: dict[int, Exception | None], now: datetime) -> int:
        if not outcomes:
            return 0
        sent = 0
        with self.sessions.begin() as session:
            # A row staff held (or cancelled) while it was being delivered was still delivered:
            # it is recorded as sent, never released and sent again (held stays held on a
            # failure).
            for row in session.scalars(
                select(OutboxMail)
                .where(
                    OutboxMail.id.in_(list(outcomes)),
                    OutboxMail.state.in_((*UNSENT, OutboxState.CANCELLED)),
                )
                .order_by(OutboxMail.id)
                .options(defer(OutboxMail.data))
            ):
                sent += self._record(session, row, outcomes[row.id], now)
        return sent

    def _senders_(self) -> ThreadPoolExecutor:
        if self._senders is None:
            self._senders = ThreadPoolExecutor(PARALLEL_SENDS, thread_name_prefix="outbox-send")
        return self._senders

    def _deliver(self, row: OutboxMail, now: datetime) -> Exception | None:
        hook = self.hooks.get(row.kind)
        try:
            if hook is None and row.payload is not None:  # its stored bytes are a preview only
                raise LookupError(f"no send-time hook for {row.kind} mail")
            data = hook.compose(row, now) if hook is not None else row.data
            self.transport.deliver(
                row.message_id, self.sender_of(row.profile), list(row.recipients), data
            )
        except Exception as exc:  # noqa: BLE001 - any relay failure is retried, never lost
            return exc
        return None

    def _record(
        self, session: Session, row: OutboxMail, exc: Exception | None, now: datetime
    ) -> int:
        if exc is not None:
            row.attempts += 1
            row.last_error = f"{type(exc).__name__}: {str(exc)[:200]}"
            if row.attempts >= self.max_attempts:
                row.state = OutboxState.FAILED
                log.error("outbox %s failed after %s attempts", row.id, row.attempts)
            else:
                row.due_at = now + backoff(row.attempts)
                log.debug(
                    "outbox %s attempt %s failed: %s", row.id, row.attempts, type(exc).__name__
                )
            with self._lock:  # PostgreSQL records on the sender threads
                self._tick_failed += 1
                self._tick_error = type(exc).__name__
            hook = self.hooks.get(row.kind)
            if hook is not None and row.attempts == 1:
                hook.failed(session, row, now)
            return 0
        row.state = OutboxState.SENT
        row.sent_at = now
        row.attempts += 1
        row.late = now - first_due(row) > LATE_AFTER
        hook = self.hooks.get(row.kind)
        if hook is not None:
            hook.sent(session, row, now)
        return 1
