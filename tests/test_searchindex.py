"""R26 search, with the SQLite index filled off the intake path (migration 0010,
intake.searchindex): the processor only notes new rows; the scheduler's job and every
dashboard search index them, so a search never misses one and intake never waits for it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from intake import db
from intake.config import load_config
from intake.intakefirst import MAX_DEFER as OUTBOX_MAX_DEFER
from intake.models import RawMessage, RawState
from intake.pipeline import Pipeline
from intake.searchindex import BATCH, catch_up
from intake.store import store_raw
from scheduler.calendar import TOKYO as JST
from scheduler.service import SearchIndexJob
from tests.mailmaker import FIELDS_BLOCK, make_mail

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=JST)


@pytest.fixture
def migrated(database_url: str):
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL maintains its trigram indexes itself")
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    yield db.session_factory(engine)
    engine.dispose()


def store(sessions, body: str) -> int:
    return store_raw(
        sessions, make_mail(FIELDS_BLOCK + f"\n{body}\n"), channel="smtp", profile="helpdesk"
    ).id


def count(sessions, sql: str) -> int:
    with sessions() as session:
        return session.execute(text(sql)).scalar_one()


def indexed_with(sessions, term: str) -> int:
    return count(
        sessions, f"SELECT count(*) FROM incident_search WHERE incident_search MATCH '\"{term}\"'"
    )


def test_r26_processing_notes_rows_and_the_job_indexes_them(migrated) -> None:
    sessions = migrated
    pipeline = Pipeline(load_config(None, env={}), sessions)
    raw = store(sessions, "プリンタで印刷できません。")
    assert pipeline.process(raw, NOW) == RawState.PROCESSED
    assert indexed_with(sessions, "印刷でき") == 0  # not on the intake path...
    assert count(sessions, "SELECT count(*) FROM incident_search_pending") == 2  # incident, text
    job = SearchIndexJob(sessions)
    assert job.run(NOW) == 2  # ...but by the scheduler's job
    assert indexed_with(sessions, "印刷でき") == 2  # the incident's first line and the message
    assert count(sessions, "SELECT count(*) FROM incident_search_pending") == 0
    assert job.run(NOW) == 0


def test_r26_the_job_lets_stored_mail_go_first_for_at_most_30_s(migrated) -> None:
    sessions = migrated
    pipeline = Pipeline(load_config(None, env={}), sessions)
    assert pipeline.process(store(sessions, "ログインできません。"), NOW) == RawState.PROCESSED
    waiting = store(sessions, "メールが届きません。")  # stored, not yet processed
    job = SearchIndexJob(sessions)
    assert job.run(NOW) == 0
    assert job.run(NOW + OUTBOX_MAX_DEFER - timedelta(seconds=1)) == 0
    assert job.run(NOW + OUTBOX_MAX_DEFER) == 2
    with sessions() as session:
        assert session.get(RawMessage, waiting).state == RawState.RECEIVED


def test_r26_a_row_noted_twice_or_changed_meanwhile_is_indexed_once_as_it_is(migrated) -> None:
    sessions = migrated
    pipeline = Pipeline(load_config(None, env={}), sessions)
    assert pipeline.process(store(sessions, "画面が固まります。"), NOW) == RawState.PROCESSED
    with sessions.begin() as session:  # a subject change (0008's update trigger) before the job
        session.execute(text("UPDATE incidents SET subject = '新しい件名テスト'"))
        session.execute(text("INSERT INTO incident_search_pending(target) VALUES (-1)"))
    assert catch_up(sessions.kw["bind"]) == 3
    assert count(sessions, "SELECT count(*) FROM incident_search WHERE rowid = -1") == 1
    assert indexed_with(sessions, "新しい件名") == 1


def test_r26_catch_up_works_off_more_than_one_batch(migrated) -> None:
    sessions = migrated
    with sessions.begin() as session:
        session.execute(
            text("INSERT INTO incident_search_pending(target) VALUES (:t)"),
            [{"t": n} for n in range(1, BATCH + 10)],
        )
    assert catch_up(sessions.kw["bind"]) == BATCH + 9
    assert count(sessions, "SELECT count(*) FROM incident_search_pending") == 0


def test_r26_downgrade_indexes_what_waits_and_restores_the_triggers(migrated) -> None:
    sessions = migrated
    pipeline = Pipeline(load_config(None, env={}), sessions)
    assert pipeline.process(store(sessions, "バックアップが失敗します。"), NOW) == "processed"
    from alembic import command

    engine = sessions.kw["bind"]
    command.downgrade(db.alembic_config(engine), "0009")
    assert indexed_with(sessions, "バックアップ") == 2  # the incident's first line, the message
    with engine.connect() as connection:
        triggers = dict(
            connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            ).all()
        )
    for name in ("incident_search_incident_insert", "incident_search_message_insert"):
        assert "INSERT INTO incident_search(" in triggers[name]  # indexing again
    assert count(sessions, "SELECT count(*) FROM sqlite_master WHERE name = "
                 "'incident_search_pending'") == 0  # fmt: skip
    db.upgrade(engine)  # and up again
    assert pipeline.process(store(sessions, "ウイルス対策ソフトの警告"), NOW) == "processed"
    assert catch_up(engine) == 2 and indexed_with(sessions, "ウイルス対策") == 2
