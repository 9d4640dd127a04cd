"""Commit #1: the raw bytes, before anything can fail (R29, DESIGN principle 2).

Every door calls :func:`store_raw` and answers (SMTP 250, IMAP flag) only after it returned. A
message seen twice is stored once: by its source key (IMAP UIDVALIDITY+UID) or by Message-ID plus
content hash (an SMTP client that retries after a lost 250, the same mail fetched twice).
"""

from __future__ import annotations

import hashlib
import re
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


def store_raw_many(
    sessions: sessionmaker[Session], items: list[Incoming], *, channel: str, profile: str | None
) -> list[Stored]:
    """Store a batch (an IMAP fetch of 50) in one transaction: one commit, one fsync.

    All or nothing: the caller marks the batch only after this returns. Should a concurrent
    writer have stored one of them meanwhile (a unique source key), the batch is stored one by
    one instead, which finds those copies.
    """
    results: list[Stored] = []
    try:
        with sessions.begin() as session:
            seen: dict[tuple[str | None, str], int] = {}
            for item in items:
                digest = content_hash(item.data)
                message_id = header_message_id(item.data)
                existing = _find_duplicate(session, item.source_key, message_id, digest, profile)
                if existing is None and message_id is not None:
                    existing = seen.get((message_id, digest))
                if existing is not None:
                    results.append(Stored(existing, True))
                    continue
                row = RawMessage(
                    channel=channel,
                    profile=profile,
                    envelope_to=[],
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
                    seen[(message_id, digest)] = row.id
                results.append(Stored(row.id, False))
    except IntegrityError:
        return [
            store_raw(
                sessions, item.data, channel=channel, profile=profile, source_key=item.source_key
            )
            for item in items
        ]
    return results


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
