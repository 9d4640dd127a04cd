"""A held inquiry's expiry timer (R2) ends with the inquiry: completed, it is cancelled (``timers
list`` no longer shows it pending), and the expiry job counts only inquiries that expired."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from intake import db
from intake.models import Inquiry, OutboxMail, TimedAction
from intake.pipeline import Pipeline
from scheduler.jobs import expire_held
from tests.mailmaker import make_mail
from tests.test_accept import OPEN, config, receive  # noqa: F401 - fixture

pytestmark = pytest.mark.db
PARTIAL = "会社名：株式会社サンプル商事\n氏名：山田 太郎\n\nログインできません。\n"
REST = "ドメイン名：example.co.jp\n顧客番号：C0123-4567\n"


def hold_then_complete(pipeline: Pipeline) -> None:
    receive(pipeline, make_mail(PARTIAL))
    with pipeline.sessions() as session:
        asked = session.scalars(select(OutboxMail).where(OutboxMail.kind == "ask_fields")).one()
    answer = make_mail(
        REST, headers={"In-Reply-To": asked.message_id, "References": asked.message_id}
    )
    receive(pipeline, answer, OPEN + timedelta(minutes=5))


def timers(sessions) -> list[tuple[str, str]]:
    with sessions() as session:
        return [(t.kind, t.state) for t in session.scalars(select(TimedAction))]


def test_r2_completed_held_inquiry_cancels_its_expiry_timer(config, cli, caplog) -> None:  # noqa: F811
    cli.initialized()
    engine = db.make_engine(cli.database_url)
    sessions = db.session_factory(engine)
    hold_then_complete(Pipeline(config, sessions))
    assert ("held_expiry", "cancelled") in timers(sessions)
    assert ("held_expiry", "pending") not in timers(sessions)
    with caplog.at_level(logging.INFO, logger="uketsuke.jobs"):
        assert expire_held(sessions, config, OPEN + timedelta(days=30)) == 0
    assert "expired" not in caplog.text
    with sessions() as session:
        assert (
            session.scalars(select(OutboxMail).where(OutboxMail.kind == "held_expired")).all() == []
        )
    engine.dispose()
    listed = cli("timers", "list")
    assert listed.returncode == 0 and "held_expiry inquiry 1 cancelled" in listed.stdout
    held = [line for line in listed.stdout.splitlines() if "held_expiry" in line]
    assert held and not [line for line in held if "pending" in line]  # (sla_due may be pending)


def test_r2_expiry_counts_only_inquiries_that_expired(config, sessions, caplog) -> None:  # noqa: F811
    pipeline = Pipeline(config, sessions)
    receive(pipeline, make_mail("ログインできません。\n"))  # held, and it will expire
    receive(pipeline, make_mail(PARTIAL))  # held, then accepted with its timer left pending
    with sessions.begin() as session:
        completed = session.scalars(select(Inquiry).order_by(Inquiry.id.desc())).first()
        completed.state = "accepted"
    with caplog.at_level(logging.INFO, logger="uketsuke.jobs"):
        assert expire_held(sessions, config, OPEN + timedelta(days=15)) == 1
    assert "expired 1 held inquiries" in caplog.text
    assert sorted(timers(sessions)) == [("held_expiry", "cancelled"), ("held_expiry", "done")]
    with sessions() as session:
        states = sorted(i.state for i in session.scalars(select(Inquiry)))
    assert states == ["accepted", "expired"]


def test_r2_migration_cancels_the_timers_of_completed_inquiries(database_url) -> None:
    from alembic import command
    from sqlalchemy import text

    DUE, AT = "'2026-12-08 01:00:00+00'", "'2026-11-24 01:00:00+00'"  # noqa: N806

    engine = db.make_engine(database_url)
    command.upgrade(db.alembic_config(engine), "0013")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO inquiries (id, profile, channel, state, fields, missing, created_at)"
                " VALUES (1, 'helpdesk', 'smtp', 'accepted', '{}', '[]', '2026-11-24 01:00:00+00'),"
                " (2, 'helpdesk', 'smtp', 'held', '{}', '[]', '2026-11-24 01:00:00+00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO timed_actions"
                " (kind, due_at, inquiry_id, state, payload, attempts, created_at)"
                f" VALUES ('held_expiry', {DUE}, 1, 'pending', '{{}}', 0, {AT}),"
                f" ('held_expiry', {DUE}, 2, 'pending', '{{}}', 0, {AT})"
            )
        )
    db.upgrade(engine)
    with engine.connect() as connection:
        states = dict(connection.execute(text("SELECT inquiry_id, state FROM timed_actions")).all())
    engine.dispose()
    assert states == {1: "cancelled", 2: "pending"}  # a still-held inquiry keeps its timer
