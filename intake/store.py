"""Commit #1: the raw bytes, before anything can fail (R29, DESIGN principle 2).

Every door calls :func:`store_raw` and answers (SMTP 250, IMAP flag) only after it returned. A
message seen twice is stored once: by its source key (IMAP UIDVALIDITY+UID) or by Message-ID plus
content hash (an SMTP client that retries after a lost 250, the same mail fetched twice).
"""

from __future__ import annotations

import hashlib
import queue
import re
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from intake.models import RawMessage, RawState

_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(<[^<>\s]{1,900}>)", re.IGNORECASE | re.MULTILINE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass(frozen=True)
class Stored:
    id: int
    duplicate: bool


def header_message_id(data: bytes) -> str | None:
    """The Message-ID, read from the header block only (cheap: no full parse before commit)."""
    end = _HEADER_END.search(data)
    match = _MESSAGE_ID.search(data, 0, end.start() if end else len(data))
    return match.group(1).decode("ascii", "replace") if match else None


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store_raw(
    sessions: sessionmaker[Session],
    data: bytes,
    *,
    channel: str,
    profile: str | None = None,
    envelope_from: str | None = None,
    envelope_to: list[str] | None = None,
    source_key: str | None = None,
) -> Stored:
    """Store and commit the raw message; return its id (or the id of the copy already stored)."""
    digest = content_hash(data)
    message_id = header_message_id(data)
    with sessions() as session:
        existing = _find_duplicate(session, source_key, message_id, digest, profile)
        if existing is not None:
            return Stored(existing, True)
        row = RawMessage(
            channel=channel,
            profile=profile,
            envelope_from=envelope_from,
            envelope_to=envelope_to or [],
            source_key=source_key,
            message_id=message_id,
            content_hash=digest,
            size=len(data),
            data=data,
            state=RawState.RECEIVED,
        )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:  # a concurrent door stored the same source key first
            session.rollback()
            existing = _find_duplicate(session, source_key, message_id, digest, profile)
            if existing is None:
                raise
            return Stored(existing, True)
        return Stored(row.id, False)


@dataclass(frozen=True)
class Incoming:
    """One message of a batch for :func:`store_raw_many`."""

    data: bytes
    source_key: str | None = None
    channel: str = "smtp"
    profile: str | None = None
    envelope_from: str | None = None
    envelope_to: tuple[str, ...] = ()


def store_raw_many(sessions: sessionmaker[Session], items: list[Incoming]) -> list[Stored]:
    """Store a batch in one transaction: one commit, one fsync (an IMAP fetch of 50, or the SMTP
    sessions that finished DATA at the same moment).

    All or nothing: callers answer or mark only after this returns. Should a concurrent writer
    have stored one of them meanwhile (a unique source key), the batch is stored one by one
    instead, which finds those copies.
    """
    results: list[Stored] = []
    try:
        with sessions.begin() as session:
            seen: dict[tuple[str, str, str | None], int] = {}
            for item in items:
                digest = content_hash(item.data)
                message_id = header_message_id(item.data)
                existing = _find_duplicate(
                    session, item.source_key, message_id, digest, item.profile
                )
                if existing is None and message_id is not None:
                    existing = seen.get((message_id, digest, item.profile))
                if existing is not None:
                    results.append(Stored(existing, True))
                    continue
                row = RawMessage(
                    channel=item.channel,
                    profile=item.profile,
                    envelope_from=item.envelope_from,
                    envelope_to=list(item.envelope_to),
                    source_key=item.source_key,
                    message_id=message_id,
                    content_hash=digest,
                    size=len(item.data),
                    data=item.data,
                    state=RawState.RECEIVED,
                )
                session.add(row)
                session.flush()
                if message_id is not None:
                    seen[(message_id, digest, item.profile)] = row.id
                results.append(Stored(row.id, False))
    except IntegrityError:
        return [store_one(sessions, item) for item in items]
    return results


def store_one(sessions: sessionmaker[Session], item: Incoming) -> Stored:
    return store_raw(
        sessions,
        item.data,
        channel=item.channel,
        profile=item.profile,
        envelope_from=item.envelope_from,
        envelope_to=list(item.envelope_to),
        source_key=item.source_key,
    )


class GroupCommit:
    """Group commit for the SMTP door: one writer thread stores whatever DATA commands finished
    meanwhile in one transaction, so concurrent senders share an fsync. Each waits for its own
    result (R29: 250 only after commit); a failing batch is retried one by one, so one bad
    message never costs the others their 250.
    """

    def __init__(self, sessions: sessionmaker[Session], max_batch: int = 64) -> None:
        self.sessions = sessions
        self.max_batch = max_batch
        self._queue: queue.Queue[tuple[list[Incoming], Future[list[Stored]]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def submit(self, items: list[Incoming]) -> Future[list[Stored]]:
        future: Future[list[Stored]] = Future()
        self._queue.put((items, future))
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            self._commit(batch)

    def _commit(self, batch: list[tuple[list[Incoming], Future[list[Stored]]]]) -> None:
        items = [item for request, _ in batch for item in request]
        try:
            stored = store_raw_many(self.sessions, items)
        except Exception:  # noqa: BLE001 - each request is tried alone: its own answer
            for request, future in batch:
                try:
                    future.set_result([store_one(self.sessions, item) for item in request])
                except Exception as exc:  # noqa: BLE001 - that sender gets 451
                    future.set_exception(exc)
            return
        position = 0
        for request, future in batch:
            future.set_result(stored[position : position + len(request)])
            position += len(request)


def _find_duplicate(
    session: Session,
    source_key: str | None,
    message_id: str | None,
    digest: str,
    profile: str | None,
) -> int | None:
    if source_key is not None:
        found = session.scalar(select(RawMessage.id).where(RawMessage.source_key == source_key))
        if found is not None:
            return found
    if message_id is not None:
        return session.scalar(
            select(RawMessage.id)
            .where(
                RawMessage.message_id == message_id,
                RawMessage.content_hash == digest,
                RawMessage.profile == profile if profile else RawMessage.profile.is_(None),
            )
            .limit(1)
        )
    return None
