"""R26: the raw mail of incidents closed longer than ``keep_raw_mail_days`` ago is removed.

Rows are made directly in a real SQLite/PostgreSQL database (``sessions``); the spool is a real
folder under ``tmp_path``.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.config import Config, load_config
from intake.models import (
    AuditEntry,
    Incident,
    IncidentMessage,
    Inquiry,
    RawMessage,
    RawState,
)
from intake.spool import spool_dir
from scheduler.retention import BATCH, purge_raw_mail

NOW = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
RAW = b"From: yamada@example.co.jp\r\nSubject: test\r\n\r\nbody\r\n"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    base = load_config(None, env={})
    return replace(base, home=str(tmp_path), intake=replace(base.intake, keep_raw_mail_days=30))


def raw_message(
    session: Session, *, spool: str | None = None, state: str = RawState.PROCESSED
) -> int:
    row = RawMessage(
        channel="smtp",
        profile="helpdesk",
        received_at=NOW - timedelta(days=60),
        envelope_to=["support@example.jp"],
        content_hash=hashlib.sha256(RAW).hexdigest(),  # no Message-ID: copies may be stored
        size=len(RAW),
        data=None if spool else RAW,
        spool=spool,
        state=state,
    )
    session.add(row)
    session.flush()
    return row.id


def incident(session: Session, *, closed_days_ago: float | None, **links: int) -> int:
    """An incident, closed that many days before NOW (None: open), whose thread holds the raw
    messages ``thread=ID``, or that was created from the inquiry ``inquiry=ID``."""
    row = Incident(
        profile="helpdesk",
        channel="smtp",
        state="open" if closed_days_ago is None else "closed",
        closed_at=None if closed_days_ago is None else NOW - timedelta(days=closed_days_ago),
        inquiry_id=links.get("inquiry"),
    )
    session.add(row)
    session.flush()
    if "thread" in links:
        session.add(
            IncidentMessage(
                incident_id=row.id, direction="in", raw_message_id=links["thread"], body="本文"
            )
        )
    return row.id


def purged(sessions, raw_id: int) -> bool:
    with sessions() as session:
        row = session.get(RawMessage, raw_id)
        assert row.content_hash and row.size == len(RAW)  # the row and its metadata stay
        return row.purged_at is not None and row.data is None and row.spool is None


def test_r26_raw_mail_of_incident_closed_longer_ago_is_purged(config, sessions) -> None:
    with sessions.begin() as session:
        old = raw_message(session)
        incident(session, closed_days_ago=31, thread=old)
    assert purge_raw_mail(sessions, config, NOW) == 1
    assert purged(sessions, old)
    with sessions() as session:
        row = session.get(RawMessage, old)
        assert row.purged_at == NOW
        assert session.scalars(select(IncidentMessage.body)).one() == "本文"  # the thread stays
        [entry] = session.scalars(select(AuditEntry)).all()
    assert (entry.actor, entry.action, entry.detail) == (
        "uketsuke",
        "raw_mail_purged",
        {"count": 1, "days": 30},
    )


def test_r26_spooled_raw_mail_loses_its_file(config, sessions, tmp_path) -> None:
    folder = spool_dir(tmp_path)
    folder.mkdir()
    (folder / "big.eml").write_bytes(RAW)
    (folder / "shared.eml").write_bytes(RAW)
    with sessions.begin() as session:
        big = raw_message(session, spool="big.eml")
        incident(session, closed_days_ago=31, thread=big)
        # one file, two rows (the same mail stored for two profiles): the open one keeps it
        closed_copy = raw_message(session, spool="shared.eml")
        open_copy = raw_message(session, spool="shared.eml")
        incident(session, closed_days_ago=31, thread=closed_copy)
        incident(session, closed_days_ago=None, thread=open_copy)
        gone = raw_message(session, spool="missing.eml")  # a missing file is fine
        incident(session, closed_days_ago=40, thread=gone)
    assert purge_raw_mail(sessions, config, NOW) == 3
    assert purged(sessions, big) and purged(sessions, closed_copy) and purged(sessions, gone)
    assert not (folder / "big.eml").exists()
    assert (folder / "shared.eml").read_bytes() == RAW and not purged(sessions, open_copy)


def test_r26_incident_closed_recently_keeps_its_raw_mail(config, sessions) -> None:
    with sessions.begin() as session:
        recent = raw_message(session)
        incident(session, closed_days_ago=29, thread=recent)
    assert purge_raw_mail(sessions, config, NOW) == 0
    assert not purged(sessions, recent)


def test_r26_open_incident_keeps_its_raw_mail(config, sessions) -> None:
    with sessions.begin() as session:
        current = raw_message(session)
        incident(session, closed_days_ago=None, thread=current)
        reopened = raw_message(session)  # closed once, reopened (R19): closed_at cleared
        incident(session, closed_days_ago=None, thread=reopened)
    assert purge_raw_mail(sessions, config, NOW) == 0
    assert not purged(sessions, current) and not purged(sessions, reopened)


def test_r26_mail_shared_with_an_open_incident_is_kept(config, sessions) -> None:
    with sessions.begin() as session:
        shared = raw_message(session)  # a reply naming two incidents joins both (R19)
        incident(session, closed_days_ago=31, thread=shared)
        incident(session, closed_days_ago=None, thread=shared)
        completed = raw_message(session)  # the held inquiry's mail, completed later (R2)
        inquiry = Inquiry(raw_message_id=completed, profile="helpdesk", channel="smtp")
        session.add(inquiry)
        session.flush()
        incident(session, closed_days_ago=31, thread=completed)
        incident(session, closed_days_ago=None, inquiry=inquiry.id)
        undated = raw_message(session)  # closed with no closing time: not known to be old
        incident(session, closed_days_ago=31, thread=undated)
        undated_incident = incident(session, closed_days_ago=None, thread=undated)
        session.get(Incident, undated_incident).state = "closed"
    assert purge_raw_mail(sessions, config, NOW) == 0
    assert not any(purged(sessions, raw_id) for raw_id in (shared, completed, undated))


def test_r26_mail_of_a_completed_inquiry_goes_with_its_incidents(config, sessions) -> None:
    with sessions.begin() as session:
        first = raw_message(session)
        inquiry = Inquiry(raw_message_id=first, profile="helpdesk", channel="smtp")
        session.add(inquiry)
        session.flush()
        incident(session, closed_days_ago=31, inquiry=inquiry.id)
    assert purge_raw_mail(sessions, config, NOW) == 1
    assert purged(sessions, first)


def test_r26_mail_of_no_incident_or_unfinished_is_kept(config, sessions) -> None:
    with sessions.begin() as session:
        kept = [raw_message(session, state=state) for state in RawState]  # held, ignored …
        unfinished = raw_message(session, state=RawState.UNPROCESSABLE)  # `reprocess` reads it
        incident(session, closed_days_ago=31, thread=unfinished)
    assert purge_raw_mail(sessions, config, NOW) == 0
    assert not any(purged(sessions, raw_id) for raw_id in [*kept, unfinished])


def test_r26_keep_zero_keeps_everything(config, sessions) -> None:
    with sessions.begin() as session:
        old = raw_message(session)
        incident(session, closed_days_ago=3650, thread=old)
    forever = replace(config, intake=replace(config.intake, keep_raw_mail_days=0))
    assert purge_raw_mail(sessions, forever, NOW) == 0
    assert not purged(sessions, old)


def test_r26_runs_in_batches_and_twice_purges_nothing_more(config, sessions, caplog) -> None:
    caplog.set_level("INFO", logger="uketsuke.retention")
    with sessions.begin() as session:
        ids = [raw_message(session) for _ in range(BATCH + 1)]
        for raw_id in ids:
            incident(session, closed_days_ago=31, thread=raw_id)
    assert purge_raw_mail(sessions, config, NOW) == BATCH + 1
    assert purge_raw_mail(sessions, config, NOW + timedelta(hours=1)) == 0
    assert all(purged(sessions, raw_id) for raw_id in ids)
    with sessions() as session:
        counts = [e.detail["count"] for e in session.scalars(select(AuditEntry))]
    assert sorted(counts) == [1, BATCH]  # one entry per transaction, none for the idle run
    assert [r.getMessage() for r in caplog.records] == [
        f"purged the raw mail of {BATCH + 1} messages (keep_raw_mail_days)"
    ]
