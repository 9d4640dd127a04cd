"""Retention of closed incidents' raw mail (R26): removed after ``keep_raw_mail_days``.

Customers' information serves their support only (R26), so a desk may choose to drop the raw
bytes of mail once the incidents they belong to have been closed long enough. What goes is the
raw message only (its ``raw_bytes`` row and its spool file); the row stays with its hash, size,
Message-ID and ``purged_at``, as do the incidents and their thread bodies, so reports, threading
(R19) and duplicate detection (R29) work as before.

A raw message is purged only when every incident it belongs to (through the thread,
``IncidentMessage.raw_message_id``, or through the inquiry it completed, ``Inquiry`` →
``Incident.inquiry_id``) is closed, and was closed more than ``keep_raw_mail_days`` ago. Mail
that belongs to no incident (held, ignored, unprocessable: staff may still need it) and mail whose
work is not finished (received, held, unprocessable: ``reprocess`` reads the bytes) is never
touched. ``0``, the default, keeps everything. Files staff attached on the dashboard
(``answer_files``) go by the same rule: those of incidents closed that long ago are deleted.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, Select, delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from intake.audit import audit
from intake.config import Config
from intake.db import read_sessions
from intake.models import (
    AnswerFile,
    Incident,
    IncidentMessage,
    Inquiry,
    RawBytes,
    RawMessage,
    RawState,
)
from intake.spool import spool_dir
from intake.states import IncidentState

log = logging.getLogger("uketsuke.retention")

# Raw messages per transaction: short transactions, bounded memory (docs/architecture.md,
# "Processes and threads").
BATCH = 200
# Only mail whose processing is over: received/held/unprocessable may still be run again.
_FINISHED = (RawState.PROCESSED, RawState.IGNORED)


def purge_raw_mail(sessions: sessionmaker[Session], config: Config, now: datetime) -> int:
    """R26: remove the raw bytes of closed incidents' mail older than keep_raw_mail_days.

    Batches of :data:`BATCH`. Each is found by a look-up that takes no write lock (on SQLite the
    search reads every link, and the doors' commits must not wait for it), then purged in a
    short transaction, audited in the same transaction so an audit entry never misses a
    committed purge. Finding first is safe: a follow-up is a new raw message, so finished mail
    gains no new incident; a reopen (R19) in between makes the purge one that could have run a
    moment earlier; and ``purged_at IS NULL`` makes a second instance's purge of the same rows
    count nothing. Spool files are deleted after their batch commits (a rollback never
    leaves a row naming a missing file), and only when no other row names them: a spool file is
    named by its content, so the copy of a mail stored for a second profile shares it. Returns
    how many raw messages were purged; the log line carries the count only (R26)."""
    days = config.intake.keep_raw_mail_days
    if days <= 0:
        return 0
    search = _purgeable(now - timedelta(days=days))
    reads = read_sessions(sessions)
    spool = spool_dir(config.home_path)
    purged = 0
    while True:
        with reads() as session:
            found = {row.id: row.spool for row in session.execute(search)}
        if not found:
            break
        with sessions.begin() as session:
            ids = list(
                session.scalars(
                    update(RawMessage)
                    .where(RawMessage.id.in_(list(found)), RawMessage.purged_at.is_(None))
                    .values(spool=None, purged_at=now)
                    .returning(RawMessage.id)
                )
            )
            if ids:
                session.execute(delete(RawBytes).where(RawBytes.raw_message_id.in_(ids)))
            names = {found[i] for i in ids if found[i]}
            if names:
                names -= set(
                    session.scalars(select(RawMessage.spool).where(RawMessage.spool.in_(names)))
                )
            if ids:
                audit(session, "raw_mail_purged", at=now, detail={"count": len(ids), "days": days})
        _unlink(spool, names)
        purged += len(ids)
    if purged:
        log.info("purged the raw mail of %s messages (keep_raw_mail_days)", purged)
    _purge_answer_files(sessions, now - timedelta(days=days), now)
    return purged


def _purge_answer_files(sessions: sessionmaker[Session], cutoff: datetime, now: datetime) -> None:
    """The files staff gave on the dashboard go with the raw mail: when their incident was
    closed before ``cutoff`` (the message and its body stay, as a purged mail's do)."""
    messages = select(IncidentMessage.id).join(Incident).where(_closed_before(cutoff))
    with sessions.begin() as session:
        gone = session.execute(delete(AnswerFile).where(AnswerFile.message_id.in_(messages)))
        if gone.rowcount:
            audit(session, "answer_files_purged", at=now, detail={"count": gone.rowcount})


def _closed_before(cutoff: datetime) -> ColumnElement[bool]:
    return (
        (Incident.state == IncidentState.CLOSED)
        & Incident.closed_at.is_not(None)
        & (Incident.closed_at < cutoff)
    )


def _purgeable(cutoff: datetime) -> Select[tuple[int, str | None]]:
    """The next batch: unpurged, finished raw messages of incidents all closed before cutoff.

    Plain (uncorrelated) IN / NOT IN subqueries: each is read once per batch, where correlated
    EXISTS made SQLite look through every closed incident for every stored message."""
    closed_long_ago = _closed_before(cutoff)
    kept = ~closed_long_ago
    return (
        select(RawMessage.id, RawMessage.spool)
        .where(
            or_(*(RawMessage.id.in_(ids) for ids in _raw_ids(closed_long_ago))),
            *(RawMessage.id.not_in(ids) for ids in _raw_ids(kept)),
            RawMessage.purged_at.is_(None),
            RawMessage.state.in_(_FINISHED),
        )
        .order_by(RawMessage.id)
        .limit(BATCH)
    )


def _raw_ids(incident: ColumnElement[bool]) -> tuple[Select[tuple[int | None]], ...]:
    """The raw messages of incidents meeting ``incident``: through the incident's thread (the
    message created or joined it) and through the held inquiry it completed (R2). NULLs are
    left out, so NOT IN means what it says."""
    return (
        select(IncidentMessage.raw_message_id)
        .join(Incident, Incident.id == IncidentMessage.incident_id)
        .where(IncidentMessage.raw_message_id.is_not(None), incident),
        select(Inquiry.raw_message_id)
        .join(Incident, Incident.inquiry_id == Inquiry.id)
        .where(Inquiry.raw_message_id.is_not(None), incident),
    )


def _unlink(directory: Path, names: set[str]) -> None:
    """Delete spool files no row names any more (one already gone is fine)."""
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
