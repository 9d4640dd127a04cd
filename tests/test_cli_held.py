"""``uketsuke held list`` (text) and ``held discard``, run as a user runs them, on a database the
daemon's pipeline filled."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from intake import db
from intake.models import AuditEntry, Inquiry, OutboxMail, RawMessage, TimedAction
from intake.pipeline import Pipeline
from scheduler.jobs import expire_held
from tests.mailmaker import make_mail
from tests.test_accept import OPEN, config, receive  # noqa: F401 - fixture

pytestmark = pytest.mark.db
PARTIAL = "会社名：株式会社サンプル商事\n氏名：山田 太郎\n\nログインできません。\n"
SPAM = "激安！今すぐクリック\n"


@pytest.fixture
def held(config, cli):  # noqa: F811
    """Two held inquiries (one partial, one spam) in the cli's database; their sessions."""
    cli.initialized()
    engine = db.make_engine(cli.database_url)
    sessions = db.session_factory(engine)
    pipeline = Pipeline(config, sessions)
    receive(pipeline, make_mail(PARTIAL))
    receive(pipeline, make_mail(SPAM, sender="spam@spam.example"))
    yield sessions
    engine.dispose()


def test_r2_held_list_text_names_the_missing_fields_and_the_expiry(cli, held) -> None:
    listed = cli("held", "list")
    assert listed.returncode == 0
    first, second = listed.stdout.splitlines()
    assert first == (
        "inquiry 1 smtp missing_fields 不足: ドメイン名、顧客番号 期限: 2026-12-08T10:30:00+09:00"
    )
    assert second.startswith("inquiry 2 smtp missing_fields 不足: 社名、氏名、ドメイン名、顧客番号")


def test_held_discard_throws_away_held_spam(config, cli, held) -> None:  # noqa: F811
    done = cli("held", "discard", "2")
    assert (done.returncode, done.stdout) == (0, "inquiry 2 discarded\n")
    listed = cli("held", "list", "--json").stdout.splitlines()
    assert [json.loads(line)["id"] for line in listed] == [1]
    with held() as session:
        spam = session.get(Inquiry, 2)
        assert spam.state == "discarded"
        assert session.get(RawMessage, spam.raw_message_id).data  # the raw mail is kept
        timers = {t.inquiry_id: t.state for t in session.scalars(select(TimedAction))}
        assert timers == {1: "pending", 2: "cancelled"}
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "held_discard"))
        assert (entry.actor, entry.target) == ("cli", "inquiry:2")
    assert expire_held(held, config, OPEN + timedelta(days=30)) == 1  # only the other one
    with held() as session:
        expired = session.scalars(select(OutboxMail).where(OutboxMail.kind == "held_expired"))
        assert [m.recipients for m in expired] == [["yamada@example.co.jp"]]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["9"], "uketsuke: no held inquiry 9\n"),
        (["1", "--raw"], "uketsuke: raw message 1 is not held for staff\n"),
        (
            ["2", "--by", "nobody@example.jp"],
            "uketsuke: no active staff account nobody@example.jp\n",
        ),
    ],
)
def test_held_discard_refuses_an_unknown_id_in_one_line(cli, held, args, error) -> None:
    refused = cli("held", "discard", *args)
    assert (refused.returncode, refused.stderr) == (2, error)


def test_held_discard_refuses_an_inquiry_already_finished(cli, held) -> None:
    assert cli("held", "discard", "2").returncode == 0
    again = cli("held", "discard", "2")
    assert (again.returncode, again.stderr) == (2, "uketsuke: inquiry 2 is discarded, not held\n")
