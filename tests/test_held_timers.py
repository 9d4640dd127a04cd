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
    assert cli("init-db").returncode == 0
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
    assert "pending" not in listed.stdout


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
