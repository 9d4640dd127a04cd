"""Commit #1: the raw bytes, before anything can fail (R29, docs/rules.md; docs/architecture.md,
"The two commits").

Every door stores through :func:`store_raw_many` (the SMTP door by way of
:class:`intake.groupcommit.GroupCommit`) and answers (SMTP 250, IMAP flag) only after it
returned; :func:`store_raw` stores one message. A message seen twice is stored once: by its
source key (IMAP UIDVALIDITY+UID) or by Message-ID plus content hash (an SMTP client that
retries after a lost 250, the same mail fetched twice).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from intake.models import RawBytes, RawMessage, RawState
from intake.spool import SPOOL_THRESHOLD, SpooledData, spool_bytes

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
    spool: Path | None = None,
    received_at: datetime | None = None,
) -> Stored:
    """Store and commit the raw message; return its id (or the id of the copy already stored)."""
    item = Incoming(
        data, source_key, channel, profile, envelope_from, tuple(envelope_to or ()), received_at
    )
    return store_raw_many(sessions, [item], spool)[0]


@dataclass(frozen=True)
class Incoming:
    """One message of a batch for :func:`store_raw_many`: its bytes, or the spool file the
    SMTP door wrote while it arrived."""

    data: bytes | SpooledData
    source_key: str | None = None
    channel: str = "smtp"
    profile: str | None = None
    envelope_from: str | None = None
    envelope_to: tuple[str, ...] = ()
    received_at: datetime | None = None  # a door with its own clock (the web form); else now


def _prepare(item: Incoming, spool: Path | None) -> tuple[bytes | None, str | None, str, int]:
    """(bytes for the row, spool file name, digest, size): large messages go to the spool, and
    their file is durable before the row naming it is committed."""
    data = item.data
    if isinstance(data, bytes) and spool is not None and len(data) > SPOOL_THRESHOLD:
        data = spool_bytes(spool, data)
    if isinstance(data, SpooledData):
        return None, data.finish(), data.digest, data.size
    return data, None, content_hash(data), len(data)


def _head(item: Incoming) -> bytes:
    return item.data.head if isinstance(item.data, SpooledData) else item.data


@contextlib.contextmanager
def _transaction(sessions: sessionmaker[Session], held: Connection | None) -> Iterator[Connection]:
    """A transaction on the caller's connection (the group-commit thread keeps one: no pool
    check-out and no PostgreSQL pre-ping round trip per batch), or on one from the pool."""
    if held is None:
        with sessions.kw["bind"].begin() as connection:
            yield connection
    else:
        with held.begin():
            yield held


def store_raw_many(
    sessions: sessionmaker[Session],
    items: list[Incoming],
    spool: Path | None = None,
    connection: Connection | None = None,
) -> list[Stored]:
    """Store a batch in one transaction: one commit, one fsync (an IMAP fetch of 50, or the SMTP
    sessions that finished DATA at the same moment).

    All or nothing: callers answer or mark only after this returns. Should a concurrent writer
    have stored one of them meanwhile (a unique source key, or the same Message-ID, content and
    profile), the batch is stored one by one instead, which finds those copies. Core statements,
    prebuilt: this is the acceptance path. Messages over the spool threshold are kept in files
    under ``spool`` (when given).
    """
    prepared = [_prepare(item, spool) for item in items]  # file I/O before the write lock
    message_ids = [header_message_id(_head(item)) for item in items]
    now = datetime.now(UTC)
    rows = [
        _row(item, message_id, ready, now)
        for item, message_id, ready in zip(items, message_ids, prepared, strict=True)
    ]
    if all(row["profile"] is not None or row["message_id"] is None for row in rows):
        # Copies are rare: insert at once (one statement, no look-up round trip first); the
        # unique indexes refuse a copy already stored, and only then do we look.
        inserted = _insert_at_once(sessions, connection, rows)
        if inserted is not None:
            return inserted
    try:
        return _insert_new(sessions, connection, items, rows, prepared)
    except IntegrityError:
        if len(items) == 1:
            retry = _find_after_race(sessions, items[0])
            if retry is None:
                raise
            return [retry]
        return [store_one(sessions, item, spool) for item in items]


def _insert_at_once(
    sessions: sessionmaker[Session], connection: Connection | None, rows: list[dict]
) -> list[Stored] | None:
    """The whole batch in one INSERT; None when a unique index refused a copy (nothing stored)."""
    try:
        with _transaction(sessions, connection) as writing:
            return [Stored(row_id, False) for row_id in _insert(writing, rows)]
    except IntegrityError:
        return None  # a copy is stored already, or twice in this batch: look first


def _insert_new(
    sessions: sessionmaker[Session],
    connection: Connection | None,
    items: list[Incoming],
    rows: list[dict],
    prepared: list[tuple[bytes | None, str | None, str, int]],
) -> list[Stored]:
    """Look up the copies stored already, then insert the rest in one INSERT."""
    # A Core connection, not an ORM session: less Python while the write turn is held (and
    # while the SMTP door's event loop waits for the GIL to send its replies).
    with _transaction(sessions, connection) as writing:
        # Three statements for the whole batch (look-ups, one multi-row INSERT): the write
        # lock is held for as short a time as the batch allows.
        known = _known(writing, items, prepared)
        results, fresh_rows = _sort_out_copies(known, items, rows)
        ids = _insert(writing, fresh_rows) if fresh_rows else []
    return _with_new_ids(results, ids)


def _insert(writing: Connection, rows: list[dict]) -> list[int]:
    """The raw rows, then their bytes in ``raw_bytes`` (none for a message in the spool):
    two multi-row INSERTs. Returns the new ids in the order of ``rows``."""
    ids = [
        row_id
        for (row_id,) in writing.execute(
            _INSERT_RAW, [{k: v for k, v in row.items() if k != "data"} for row in rows]
        )
    ]
    data = [
        {"raw_message_id": row_id, "data": row["data"]}
        for row_id, row in zip(ids, rows, strict=True)
        if row["data"] is not None
    ]
    if data:
        writing.execute(_INSERT_BYTES, data)
    return ids


def _sort_out_copies(
    known: dict[tuple, int], items: list[Incoming], rows: list[dict]
) -> tuple[list[Stored | None], list[dict]]:
    """Per item its stored copy (None: new, a negative id: a copy of an earlier new item of this
    batch), and the rows to insert."""
    results: list[Stored | None] = []
    fresh_rows: list[dict] = []
    for item, row in zip(items, rows, strict=True):
        message_id = row["message_id"]
        key = (message_id, row["content_hash"], item.profile)
        existing = known.get(("source", item.source_key)) if item.source_key else None
        if existing is None and message_id is not None:
            existing = known.get(key)
        if existing is not None:
            results.append(Stored(existing, True))
            continue
        if message_id is not None:
            known[key] = -1 - len(fresh_rows)  # a later copy in this batch: the same row
        results.append(None)
        fresh_rows.append(row)
    return results, fresh_rows


def _with_new_ids(results: list[Stored | None], ids: list[int]) -> list[Stored]:
    """The results of :func:`_sort_out_copies` with the ids the INSERT returned filled in."""
    stored: list[Stored] = []
    fresh = iter(ids)
    for result in results:
        if result is None:
            stored.append(Stored(next(fresh), False))
        elif result.id < 0:  # the copy stored earlier in this batch
            stored.append(Stored(ids[-1 - result.id], True))
        else:
            stored.append(result)
    return stored


def _row(
    item: Incoming,
    message_id: str | None,
    prepared: tuple[bytes | None, str | None, str, int],
    now: datetime,
) -> dict:
    row_data, spool_name, digest, size = prepared
    return {
        "channel": item.channel,
        "profile": item.profile,
        "envelope_from": item.envelope_from,
        "envelope_to": list(item.envelope_to),
        "source_key": item.source_key,
        "message_id": message_id,
        "content_hash": digest,
        "size": size,
        "data": row_data,  # into raw_bytes (_insert)
        "spool": spool_name,
        "state": RawState.RECEIVED.value,
        "attempts": 0,
        "received_at": item.received_at or now,
    }


def _find_after_race(sessions: sessionmaker[Session], item: Incoming) -> Stored | None:
    """A concurrent door stored the same source key first: that copy is ours."""
    data = item.data
    with sessions() as session:
        found = _find_duplicate(
            session.connection(),
            item.source_key,
            header_message_id(_head(item)),
            data.digest if isinstance(data, SpooledData) else content_hash(data),
            item.profile,
        )
    return Stored(found, True) if found is not None else None


def store_one(sessions: sessionmaker[Session], item: Incoming, spool: Path | None = None) -> Stored:
    return store_raw_many(sessions, [item], spool)[0]


_RAW = RawMessage.__table__
_INSERT_RAW = insert(_RAW).returning(_RAW.c.id, sort_by_parameter_order=True)
_INSERT_BYTES = insert(RawBytes.__table__)
_BY_SOURCE = select(_RAW.c.id).where(_RAW.c.source_key == bindparam("source_key"))
_BY_SOURCES = select(_RAW.c.id, _RAW.c.source_key).where(
    _RAW.c.source_key.in_(bindparam("keys", expanding=True))
)
_BY_DIGESTS = (
    select(_RAW.c.id, _RAW.c.message_id, _RAW.c.content_hash, _RAW.c.profile)
    .where(_RAW.c.content_hash.in_(bindparam("digests", expanding=True)))
    .order_by(_RAW.c.id)
)
_BY_CONTENT = (
    select(_RAW.c.id)
    .where(
        _RAW.c.message_id == bindparam("message_id"),
        _RAW.c.content_hash == bindparam("digest"),
        _RAW.c.profile == bindparam("profile"),
    )
    .limit(1)
)
_BY_CONTENT_NO_PROFILE = (
    select(_RAW.c.id)
    .where(
        _RAW.c.message_id == bindparam("message_id"),
        _RAW.c.content_hash == bindparam("digest"),
        _RAW.c.profile.is_(None),
    )
    .limit(1)
)


def _known(
    connection: Connection,
    items: list[Incoming],
    prepared: list[tuple[bytes | None, str | None, str, int]],
) -> dict[tuple, int]:
    """What of the batch is stored already: ("source", key) -> id and (Message-ID, digest,
    profile) -> id, from two look-ups for the whole batch."""
    known: dict[tuple, int] = {}
    source_keys = [item.source_key for item in items if item.source_key]
    if source_keys:
        for row_id, source_key in connection.execute(_BY_SOURCES, {"keys": source_keys}):
            known[("source", source_key)] = row_id
    digests = sorted({digest for _, _, digest, _ in prepared})
    for row_id, message_id, digest, profile in connection.execute(
        _BY_DIGESTS, {"digests": digests}
    ):
        if message_id is not None:
            known.setdefault((message_id, digest, profile), row_id)
    return known


def _find_duplicate(
    connection: Connection,
    source_key: str | None,
    message_id: str | None,
    digest: str,
    profile: str | None,
) -> int | None:
    if source_key is not None:
        found = connection.scalar(_BY_SOURCE, {"source_key": source_key})
        if found is not None:
            return found
    if message_id is None:
        return None
    if profile is None:
        return connection.scalar(
            _BY_CONTENT_NO_PROFILE, {"message_id": message_id, "digest": digest}
        )
    return connection.scalar(
        _BY_CONTENT, {"message_id": message_id, "digest": digest, "profile": profile}
    )
