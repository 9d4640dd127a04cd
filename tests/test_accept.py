"""One accept for every door (docs/architecture.md, "The flow of one message"): phone, mail,
completion, reopen, reprocess.

Real SQLite/PostgreSQL (``sessions``), real templates; the CLI as a user runs it (``cli``).
"""

from __future__ import annotations

import email
import json
import logging
from datetime import date, datetime, timedelta
from email import policy

import pytest
from alembic import command
from sqlalchemy import select, text

from intake import db
from intake.accept import accept
from intake.config import load_config
from intake.customers import import_rows, parse_rows
from intake.models import (
    Incident,
    Inquiry,
    OutboxMail,
    RawMessage,
    RawState,
    SupportContract,
    TimedAction,
)
from intake.outcomes import Held
from intake.pipeline import Pipeline
from intake.store import store_raw
from intake.submission import Intake, Item
from scheduler.calendar import TOKYO
from scheduler.jobs import expire_held
from tests.mailmaker import FIELDS_BLOCK, make_mail

OPEN = datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)
HEADER = "customer_number,company,domains,contact_emails,profile,order_accepted\n"


@pytest.fixture
def config():
    return load_config(None, env={})


def load_registry(sessions, rows: str, profile: str = "helpdesk") -> None:
    parsed = parse_rows((HEADER + rows).encode(), profile, ["helpdesk", "desknet"])
    with sessions.begin() as session:
        import_rows(session, parsed, progress=False)


def phone(profile: str = "helpdesk", text_: str = "管理画面に入れません。") -> Intake:
    return Intake(
        channel="phone",
        profile=profile,
        fields={
            "company": "株式会社サンプル商事",
            "name": "山田 太郎",
            "domain": "example.co.jp",
            "customer_number": "C0123-4567",
        },
        items=[Item(text_, "fault", False)],
        subject=text_,
        received_at=OPEN,
        reply_to=[],
    )


def receive(pipeline: Pipeline, data: bytes, at: datetime = OPEN) -> int:
    stored = store_raw(pipeline.sessions, data, channel="smtp", profile="helpdesk")
    with pipeline.sessions.begin() as session:
        session.get(RawMessage, stored.id).received_at = at
    pipeline.process(stored.id, at)
    return stored.id


def test_r10_r7_phone_incident_acknowledged_at_registered_contact(config, sessions) -> None:
    load_registry(sessions, "C0123-4567,株式会社サンプル商事,example.co.jp,it@example.co.jp,,\n")
    with sessions.begin() as session:
        [created] = accept(session, config, phone(), OPEN)
    with sessions() as session:
        [ack] = session.scalars(select(OutboxMail)).all()
        assert ack.kind == "ack" and ack.recipients == ["it@example.co.jp"]
        subject = email.message_from_bytes(ack.data, policy=policy.default)["Subject"]
        assert subject.startswith(f"[#{created.id}]")  # R7/R10: the number, by email
        incident = session.get(Incident, created.id)
        assert incident.channel == "phone" and incident.reply_address == "it@example.co.jp"


def test_r10_phone_without_registered_contact_is_flagged_no_reply_address(
    config, sessions
) -> None:
    load_registry(sessions, "C0123-4567,株式会社サンプル商事,example.co.jp,,,\n")
    with sessions.begin() as session:
        [created] = accept(session, config, phone(), OPEN)
    assert "no_reply_address" in created.flags
    with sessions() as session:
        assert session.scalars(select(OutboxMail)).all() == []


def test_r25_phone_inquiry_of_lapsed_customer_is_flagged_like_mail(config, sessions) -> None:
    row = "C0123-4567,株式会社サンプル商事,example.co.jp,it@example.co.jp,desknet,2024-01-10\n"
    load_registry(sessions, row)
    with sessions.begin() as session:
        [created] = accept(session, config, phone("desknet"), OPEN)
    assert "support_lapsed" in created.flags


def test_r4_phone_incident_counts_against_quota_through_the_same_code(config, sessions) -> None:
    load_registry(sessions, "C0123-4567,株式会社サンプル商事,example.co.jp,it@example.co.jp,,\n")
    with sessions.begin() as session:
        session.add(
            SupportContract(
                customer_id=1,
                profile="helpdesk",
                kind="renewal",
                coverage_from=date(2026, 1, 1),
                period_start=date(2026, 1, 1),
                period_end=date(2026, 12, 31),
                incident_quota=1,
            )
        )
    with sessions.begin() as session:
        [first] = accept(session, config, phone(), OPEN)
        [second] = accept(session, config, phone(), OPEN)
    assert "quota_exceeded" not in first.flags and "quota_exceeded" in second.flags


def test_r2_phone_intake_missing_a_field_is_held_not_created(config, sessions) -> None:
    intake = phone()
    intake.fields["name"] = None
    with pytest.raises(Held), sessions.begin() as session:
        accept(session, config, intake, OPEN)
    with sessions() as session:
        assert session.scalars(select(Incident)).all() == []


def test_r29_control_characters_never_reach_incidents_or_mail(config, sessions) -> None:
    intake = phone(text_="印刷\x00できません\x1b。")
    intake.fields["company"] = "株式会社\x00サンプル"
    with sessions.begin() as session:
        [created] = accept(session, config, intake, OPEN)  # PostgreSQL refuses NUL in text
    with sessions() as session:
        incident = session.get(Incident, created.id)
        assert "\x00" not in incident.first_line and "\x1b" not in incident.subject
        assert incident.fields["company"] == "株式会社サンプル"
        assert incident.messages[0].body == "印刷できません。"


def test_r1_stated_fields_kept_on_incident_without_registry(config, cli) -> None:
    cli.initialized()
    engine = db.make_engine(cli.database_url)
    pipeline = Pipeline(config, db.session_factory(engine))
    receive(pipeline, make_mail(FIELDS_BLOCK + "\n質問です。\n"))
    engine.dispose()
    shown = json.loads(cli("incidents", "show", "1", "--json").stdout)
    assert shown["customer_number"] == "C0123-4567"
    assert shown["fields"] == {
        "company": "株式会社サンプル商事",
        "name": "山田 太郎",
        "domain": "example.co.jp",
        "customer_number": "C0123-4567",
    }
    [listed] = [json.loads(line) for line in cli("incidents", "list", "--json").stdout.splitlines()]
    assert listed["fields"] == shown["fields"]
    assert "氏名: 山田 太郎" in cli("incidents", "show", "1").stdout


def test_r2_completed_held_inquiry_leaves_its_mail_processed(config, cli) -> None:
    cli.initialized()
    engine = db.make_engine(cli.database_url)
    pipeline = Pipeline(config, db.session_factory(engine))
    first = receive(pipeline, make_mail("会社名：株式会社サンプル商事\nログインできません。\n"))
    with pipeline.sessions() as session:
        asked = session.scalars(select(OutboxMail).where(OutboxMail.kind == "ask_fields")).one()
    answer = make_mail(
        "氏名：山田 太郎\nドメイン名：example.co.jp\n顧客番号：C0123-4567\n",
        headers={"In-Reply-To": asked.message_id, "References": asked.message_id},
    )
    receive(pipeline, answer, OPEN + timedelta(minutes=5))
    with pipeline.sessions() as session:
        assert session.get(RawMessage, first).state == RawState.PROCESSED
        assert session.scalars(select(Inquiry)).one().state == "accepted"
    engine.dispose()
    assert json.loads(cli("status", "--json").stdout)["held"] == 0
    assert cli("held", "list", "--json").stdout == ""


def test_r2_migration_repairs_mail_left_held_by_completed_inquiries(database_url) -> None:
    engine = db.make_engine(database_url)
    command.upgrade(db.alembic_config(engine), "0004")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO raw_messages (id, channel, received_at, envelope_to, content_hash,"
                " size, state, attempts) VALUES (1, 'smtp', '2026-11-24 01:00:00+00', '[]', 'h',"
                " 1, 'held', 1), (2, 'smtp', '2026-11-24 01:00:00+00', '[]', 'i', 1, 'held', 1)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO inquiries (raw_message_id, profile, channel, state, fields, missing,"
                " created_at) VALUES (1, 'helpdesk', 'smtp', 'accepted', '{}', '[]',"
                " '2026-11-24 01:00:00+00'), (2, 'helpdesk', 'smtp', 'held', '{}', '[]',"
                " '2026-11-24 01:00:00+00')"
            )
        )
    db.upgrade(engine)
    with engine.connect() as connection:
        states = dict(connection.execute(text("SELECT id, state FROM raw_messages")).all())
    engine.dispose()
    assert states == {1: "processed", 2: "held"}  # a still-held inquiry keeps its mail held


def test_r19_reply_arriving_before_its_original_waits_and_threads(config, sessions) -> None:
    pipeline = Pipeline(config, sessions)
    original_id = "<original.1@customer.example.co.jp>"
    reply = make_mail(
        "補足です。再起動しても同じでした。\n",
        subject="Re: [#1] お問い合わせ",
        headers={"In-Reply-To": original_id, "References": original_id},
    )
    reply_raw = receive(pipeline, reply, OPEN)
    with sessions() as session:
        waiting = session.get(RawMessage, reply_raw)
        assert waiting.state == RawState.RECEIVED and waiting.not_before is not None
        assert session.scalars(select(Incident)).all() == []
    receive(pipeline, make_mail(FIELDS_BLOCK + "\n印刷できません。\n", message_id=original_id))
    assert pipeline.process(reply_raw, OPEN + timedelta(seconds=10)) == RawState.PROCESSED
    with sessions() as session:
        [incident] = session.scalars(select(Incident)).all()
        assert [m.body for m in incident.messages if m.direction == "in"][-1].startswith("補足")


def test_r19_reply_to_something_never_seen_is_processed_after_the_wait(
    config, sessions, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="uketsuke.pipeline")
    pipeline = Pipeline(config, sessions)
    reply = make_mail(
        FIELDS_BLOCK + "\n印刷できません。\n",
        headers={"In-Reply-To": "<elsewhere@customer.example.co.jp>"},
    )
    raw_id = receive(pipeline, reply, OPEN)
    for seconds in (1, 2, 30):  # re-checked every second: said once, not every time
        assert pipeline.process(raw_id, OPEN + timedelta(seconds=seconds)) == RawState.RECEIVED
    assert pipeline.process(raw_id, OPEN + timedelta(seconds=61)) == RawState.PROCESSED
    lines = [r.getMessage() for r in caplog.records if r.name == "uketsuke.pipeline"]
    assert lines == [f"raw {raw_id} waits for the message it answers", f"raw {raw_id} → processed"]
    with sessions() as session:
        assert len(session.scalars(select(Incident)).all()) == 1


def test_r29_reprocess_reads_the_profile_from_todays_configuration(
    cli, tmp_path, database_url
) -> None:
    cli.initialized()
    engine = db.make_engine(cli.database_url)
    stored = store_raw(
        db.session_factory(engine),
        make_mail(FIELDS_BLOCK + "\n質問です。\n", to="neo-support@example.jp"),
        channel="smtp",
        profile="typo",  # as a table naming an unknown profile left it
        envelope_to=["neo-support@example.jp"],
    )
    with db.session_factory(engine).begin() as session:
        session.get(RawMessage, stored.id).state = RawState.UNPROCESSABLE
    result = cli("reprocess", str(stored.id))
    assert result.returncode == 0 and "processed" in result.stdout, result.stderr
    with db.session_factory(engine)() as session:
        assert session.get(RawMessage, stored.id).profile == "desknet"
        assert session.scalars(select(Incident)).one().profile == "desknet"
    engine.dispose()


def test_r11_held_for_staff_never_expires_silently(config, sessions) -> None:
    """A fax waiting to be keyed in waits for staff, not the customer: no expiry (R2's expiry
    is for inquiries whose customer was asked)."""
    intake = phone()
    intake.channel, intake.ask_for_fields, intake.hold_reason = "fax", False, "needs_transcription"
    intake.fields["name"] = None
    with sessions.begin() as session, pytest.raises(Held):
        accept(session, config, intake, OPEN)  # the runner keeps a held inquiry's rows
    assert expire_held(sessions, config, OPEN + timedelta(days=30)) == 0
    with sessions() as session:
        held = session.scalars(select(Inquiry)).one()
        assert (held.state, held.expires_at) == ("held", None)
        assert session.scalars(select(TimedAction)).all() == []


def test_r25_customer_without_a_period_on_record_is_not_told_it_lapsed(config, sessions) -> None:
    load_registry(sessions, "C0123-4567,株式会社サンプル商事,example.co.jp,it@example.co.jp,,\n")
    with sessions.begin() as session:
        [created] = accept(session, config, phone("desknet"), OPEN)
    assert "no_support_period" in created.flags and "support_lapsed" not in created.flags
    with sessions() as session:
        [ack] = session.scalars(select(OutboxMail)).all()
    body = email.message_from_bytes(ack.data, policy=policy.default).get_content()
    assert "再継続" not in body and "更新" not in body
