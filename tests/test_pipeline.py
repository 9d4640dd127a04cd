"""The intake pipeline: stored mail → incidents, held inquiries, acknowledgments (issue 4 rules).

Real SQLite/PostgreSQL (the `sessions` fixture), real templates, the real Maildir transport.
"""

from __future__ import annotations

import email
from datetime import datetime, timedelta
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from intake.config import OutboxConfig, load_config
from intake.customers import import_rows, parse_rows
from intake.models import (
    AuditEntry,
    Incident,
    IncidentMessage,
    Inquiry,
    OutboxMail,
    RawMessage,
    RawState,
    StaffUser,
    TimedAction,
)
from intake.pipeline import Pipeline
from intake.store import store_raw
from responder.outbox import Dispatcher
from responder.transports import MaildirTransport, SmtpRelayTransport
from scheduler.calendar import TOKYO
from scheduler.jobs import expire_held
from tests.mailmaker import FIELDS_BLOCK, make_mail

# Tuesday 2026-11-24 10:30 JST: the helpdesk is open.
OPEN = datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)
# Saturday 2026-11-28 11:00 JST: closed until Monday.
SATURDAY = datetime(2026, 11, 28, 11, 0, tzinfo=TOKYO)


@pytest.fixture
def config():
    return load_config(None, env={})


@pytest.fixture
def pipeline(config, sessions) -> Pipeline:
    return Pipeline(config, sessions)


def receive(pipeline: Pipeline, data: bytes, at: datetime = OPEN, profile: str = "helpdesk") -> int:
    stored = store_raw(pipeline.sessions, data, channel="smtp", profile=profile)
    with pipeline.sessions.begin() as session:
        session.get(RawMessage, stored.id).received_at = at
    pipeline.process(stored.id, at)
    return stored.id


def outbox(sessions, kind: str | None = None) -> list[OutboxMail]:
    with sessions() as session:
        query = select(OutboxMail).order_by(OutboxMail.id)
        if kind:
            query = query.where(OutboxMail.kind == kind)
        return list(session.scalars(query))


def mail_text(row: OutboxMail) -> tuple[email.message.EmailMessage, str]:
    message = email.message_from_bytes(row.data, policy=policy.default)
    return message, message.get_content()


def load_registry(sessions, csv_body: str) -> None:
    header = "customer_number,company,domains,contact_emails,profile,order_accepted\n"
    rows = parse_rows((header + csv_body).encode(), "helpdesk", ["helpdesk", "desknet"])
    with sessions.begin() as session:
        import_rows(session, rows, progress=False)


def incidents(sessions) -> list[Incident]:
    with sessions() as session:
        return list(session.scalars(select(Incident).order_by(Incident.id)))


def test_r2_complete_inquiry_becomes_incident_with_ack(pipeline, sessions) -> None:
    raw_id = receive(pipeline, make_mail(FIELDS_BLOCK + "\nメールが送信できません。\n"))
    with sessions() as session:
        assert session.get(RawMessage, raw_id).state == RawState.PROCESSED
    [incident] = incidents(sessions)
    assert (incident.state, incident.channel, incident.category) == ("open", "smtp", "fault")
    [ack] = outbox(sessions, "ack")
    message, text = mail_text(ack)
    assert message["Subject"].startswith(f"[#{incident.id}]")
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["In-Reply-To"].startswith("<test.")
    assert ack.recipients == ["yamada@example.co.jp"]
    assert "株式会社サンプル商事" in text and "山田 太郎 様" in text


def test_r8_ack_states_received_time_and_next_opening(pipeline, sessions) -> None:
    receive(pipeline, make_mail(FIELDS_BLOCK + "\n設定方法を教えてください。\n"), at=SATURDAY)
    [ack] = outbox(sessions, "ack")
    _, text = mail_text(ack)
    assert "2026年11月28日(土) 11:00" in text
    assert "2026年11月30日(月) 10:00 より順次対応いたします" in text


def test_r8_ack_when_open_says_now(pipeline, sessions) -> None:
    receive(pipeline, make_mail(FIELDS_BLOCK + "\n設定方法を教えてください。\n"))
    _, text = mail_text(outbox(sessions, "ack")[0])
    assert "ただいまより対応いたします" in text


def test_r3_r4_two_questions_two_incidents_ack_lists_both(pipeline, sessions) -> None:
    body = FIELDS_BLOCK + (
        "\n以下2点質問があります。\n"
        "1. メールの転送設定はどこで変更できますか？\n"
        "2. 迷惑メールフィルタの強さを変更する方法を教えてください。\n"
    )
    receive(pipeline, make_mail(body))
    created = incidents(sessions)
    assert len(created) == 2
    assert "転送設定" in created[0].first_line and "迷惑メール" in created[1].first_line
    _, text = mail_text(outbox(sessions, "ack")[0])
    for incident in created:
        assert f"[#{incident.id}] {incident.first_line}" in text


def test_r2_missing_fields_held_then_completed_by_reply(pipeline, sessions) -> None:
    first = make_mail("会社名：株式会社サンプル商事\n氏名：山田 太郎\n\nログインできません。\n")
    raw_id = receive(pipeline, first)
    with sessions() as session:
        assert session.get(RawMessage, raw_id).state == RawState.HELD
        held = session.scalars(select(Inquiry)).one()
        assert (held.state, held.missing) == ("held", ["domain", "customer_number"])
    assert incidents(sessions) == []  # R4: a held inquiry consumes nothing
    [ask] = outbox(sessions, "ask_fields")
    _, text = mail_text(ask)
    assert "ドメイン名" in text and "顧客番号" in text
    assert "・社名" not in text and "・氏名" not in text
    answer = make_mail(
        "ドメイン名：example.co.jp\n顧客番号：C0123-4567\n",
        subject="Re: お問い合わせ内容の確認のお願い",
        headers={"In-Reply-To": ask.message_id, "References": ask.message_id},
    )
    receive(pipeline, answer)
    [incident] = incidents(sessions)
    assert "ログインできません" in incident.first_line
    with sessions() as session:
        assert session.scalars(select(Inquiry)).one().state == "accepted"


def test_r2_unknown_customer_number_is_held_when_registry_loaded(pipeline, sessions) -> None:
    load_registry(sessions, "C-1,株式会社A,a.jp,x@a.jp,helpdesk,2026-11-02\n")
    receive(pipeline, make_mail(FIELDS_BLOCK + "\n質問です。\n"))
    assert incidents(sessions) == []
    _, text = mail_text(outbox(sessions, "ask_fields")[0])
    assert "顧客番号（ご登録が確認できませんでした）" in text


def test_r2_domain_mismatch_is_accepted_but_flagged(pipeline, sessions) -> None:
    load_registry(
        sessions, "C0123-4567,株式会社サンプル商事,other.jp,x@other.jp,helpdesk,2026-11-02\n"
    )
    receive(pipeline, make_mail(FIELDS_BLOCK + "\n質問です。\n"))
    [incident] = incidents(sessions)
    assert "domain_mismatch" in incident.flags
    assert incident.customer_id is not None


def test_r25_lapsed_support_is_flagged_and_ack_mentions_renewal(pipeline, sessions) -> None:
    load_registry(
        sessions,
        "C0123-4567,株式会社サンプル商事,example.co.jp,x@example.co.jp,desknet,2024-01-10\n",
    )
    receive(
        pipeline,
        make_mail(FIELDS_BLOCK + "\n会議に接続できません。\n", to="neo-support@example.jp"),
        profile="desknet",
    )
    [incident] = incidents(sessions)
    assert "support_lapsed" in incident.flags
    _, text = mail_text(outbox(sessions, "ack")[0])
    assert "再継続年間サポート" in text


def test_r4_quota_exceeded_flags_the_incident(pipeline, sessions) -> None:
    header = (
        "customer_number,company,domains,contact_emails,profile,order_accepted,incident_quota\n"
    )
    rows = parse_rows(
        (
            header + "C0123-4567,株式会社サンプル商事,example.co.jp,,helpdesk,2026-11-01,1\n"
        ).encode(),
        "helpdesk",
        ["helpdesk"],
    )
    with sessions.begin() as session:
        import_rows(session, rows, progress=False)
    receive(pipeline, make_mail(FIELDS_BLOCK + "\n質問1です。\n"))
    receive(pipeline, make_mail(FIELDS_BLOCK + "\n別の質問です。\n"))
    first, second = incidents(sessions)
    assert "quota_exceeded" not in first.flags
    assert "quota_exceeded" in second.flags


def test_r6_non_japanese_inquiry_flagged_and_told_in_both_languages(pipeline, sessions) -> None:
    body = (
        "Company: Example Inc.\nName: John Smith\nDomain: example.com\n"
        "Customer No.: C-77\n\nMy mail does not arrive.\n"
    )
    receive(pipeline, make_mail(body, subject="Help"))
    [incident] = incidents(sessions)
    assert "non_japanese" in incident.flags
    _, text = mail_text(outbox(sessions, "ack")[0])
    assert "日本語でのサポート" in text and "in Japanese only" in text


def test_r19_follow_up_joins_incident_and_tag_from_stranger_is_held(pipeline, sessions) -> None:
    receive(pipeline, make_mail(FIELDS_BLOCK + "\n質問です。\n"))
    [incident] = incidents(sessions)
    [ack] = outbox(sessions, "ack")
    follow = make_mail(
        "追加の情報です。\n",
        subject=f"Re: [#{incident.id}] お問い合わせ",
        headers={"In-Reply-To": ack.message_id},
    )
    receive(pipeline, follow)
    tagged_only = make_mail("追記です。\n", subject=f"RE: 転送: [#{incident.id}] お問い合わせ")
    receive(pipeline, tagged_only)
    stranger = make_mail(
        "見せてください\n", subject=f"Re: [#{incident.id}]", sender="intruder@evil.example"
    )
    stranger_id = receive(pipeline, stranger)
    with sessions() as session:
        inbound = session.scalar(
            select(func.count())
            .select_from(IncidentMessage)
            .where(IncidentMessage.incident_id == incident.id, IncidentMessage.direction == "in")
        )
        assert inbound == 3
        assert session.get(RawMessage, stranger_id).state == RawState.HELD
    assert len(incidents(sessions)) == 1


def test_r19_follow_up_to_closed_incident_opens_linked_one(pipeline, sessions) -> None:
    receive(pipeline, make_mail(FIELDS_BLOCK + "\n質問です。\n"))
    [incident] = incidents(sessions)
    with sessions.begin() as session:
        closed = session.get(Incident, incident.id)
        closed.state, closed.closed_at = "closed", OPEN
    receive(
        pipeline,
        make_mail("また同じ症状が出ました。\n", subject=f"Re: [#{incident.id}] 質問"),
        at=OPEN + timedelta(days=10),
    )
    first, second = incidents(sessions)
    assert second.linked_incident_id == first.id and second.state == "open"


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"List-Id": "<users.example.jp>"},
        {"X-Auto-Response-Suppress": "All"},
    ],
)
def test_r27_automatic_mail_is_stored_ignored_never_answered(pipeline, sessions, headers) -> None:
    raw_id = receive(pipeline, make_mail(FIELDS_BLOCK + "\n不在です。\n", headers=headers))
    with sessions() as session:
        assert session.get(RawMessage, raw_id).state == RawState.IGNORED
    assert outbox(sessions) == [] and incidents(sessions) == []


def test_r27_bounce_is_tied_to_the_mail_and_flags_the_incident(pipeline, sessions) -> None:
    receive(pipeline, make_mail(FIELDS_BLOCK + "\n質問です。\n", sender="typo@exmaple.co.jp"))
    [ack] = outbox(sessions, "ack")
    dsn = (
        "From: MAILER-DAEMON@mx.example.jp\r\nTo: support@example.jp\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn.1@mx.example.jp>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nundeliverable\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.jp\r\n\r\nFinal-Recipient: rfc822; typo@exmaple.co.jp\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {ack.message_id}\r\nSubject: x\r\n"
        "--b--\r\n"
    ).encode()
    raw_id = receive(pipeline, dsn)
    with sessions() as session:
        assert session.get(RawMessage, raw_id).state == RawState.IGNORED
    [incident] = incidents(sessions)
    assert "bounce" in incident.flags
    assert len(outbox(sessions)) == 1  # no answer to the bounce


def test_r27_at_most_five_automatic_mails_per_sender_per_hour(pipeline, sessions) -> None:
    for n in range(7):
        receive(pipeline, make_mail(f"ログインできません {n}\n"), at=OPEN + timedelta(minutes=n))
    assert len(outbox(sessions)) == 5
    with sessions() as session:  # each one held back is recorded, without the address (R26)
        held_back = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(a.action, a.detail["reason"]) for a in held_back] == [
        ("mail_suppressed", "rate_limit")
    ] * 2
    assert all("@" not in str(a.detail) and "@" not in (a.target or "") for a in held_back)
    receive(pipeline, make_mail("再送\n"), at=OPEN + timedelta(hours=2))
    assert len(outbox(sessions)) == 6


def test_r29_bug_holds_message_unprocessable_and_reprocess_recovers(config, sessions) -> None:
    def broken(ctx) -> None:  # noqa: ANN001
        raise RuntimeError("simulated bug")

    raw_id = receive(
        Pipeline(config, sessions, steps=(broken,)), make_mail(FIELDS_BLOCK + "\n質問です。\n")
    )
    with sessions() as session:
        raw = session.get(RawMessage, raw_id)
        assert raw.state == RawState.UNPROCESSABLE
        assert raw.last_error == "RuntimeError: simulated bug"
        assert raw.data.startswith(b"From: ")  # nothing lost
    assert Pipeline(config, sessions).process(raw_id, OPEN, again=True) == RawState.PROCESSED
    assert len(incidents(sessions)) == 1


def test_r2_held_inquiry_expires_with_notice(pipeline, sessions, config) -> None:
    receive(pipeline, make_mail("ログインできません。\n"))
    assert expire_held(sessions, config, OPEN + timedelta(days=13)) == 0
    assert expire_held(sessions, config, OPEN + timedelta(days=14, minutes=1)) == 1
    with sessions() as session:
        assert session.scalars(select(Inquiry)).one().state == "expired"
    [notice] = outbox(sessions, "held_expired")
    assert "取り下げ" in mail_text(notice)[1]
    assert expire_held(sessions, config, OPEN + timedelta(days=20)) == 0


def test_r16_outbox_into_maildir_is_idempotent(pipeline, sessions, tmp_path: Path) -> None:
    receive(pipeline, make_mail(FIELDS_BLOCK + "\n質問です。\n"))
    transport = MaildirTransport(tmp_path / "out")
    dispatcher = Dispatcher(sessions, transport, lambda p: "support@example.jp")
    now = OPEN + timedelta(seconds=5)
    assert dispatcher.run_once(now) == 1
    assert dispatcher.run_once(now) == 0
    [row] = outbox(sessions)
    transport.deliver(row.message_id, "support@example.jp", row.recipients, row.data)  # a replay
    files = list((tmp_path / "out" / "new").iterdir())
    assert len(files) == 1
    assert row.message_id.encode() in files[0].read_bytes()


def test_r16_failed_relay_retries_with_backoff_never_loses(pipeline, sessions) -> None:
    receive(pipeline, make_mail(FIELDS_BLOCK + "\n質問です。\n"))

    # A real relay client against a port where nothing listens: the relay is down.
    down = SmtpRelayTransport(OutboxConfig(transport="smtp", relay_host="127.0.0.1", relay_port=1))
    now = OPEN + timedelta(seconds=5)
    dispatcher = Dispatcher(sessions, down, lambda p: "support@example.jp", max_attempts=3)
    assert dispatcher.run_once(now) == 0
    [row] = outbox(sessions)
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.due_at > now
    assert "ConnectionRefusedError" in row.last_error


def test_r18_customer_follow_up_restarts_the_auto_close_clock(pipeline, sessions) -> None:
    receive(pipeline, make_mail(FIELDS_BLOCK + "\n質問です。\n"))
    [incident] = incidents(sessions)
    with sessions.begin() as session:
        session.add(
            TimedAction(
                kind="auto_close",
                incident_id=incident.id,
                due_at=OPEN + timedelta(hours=120),
                created_at=OPEN,
            )
        )
    receive(
        pipeline,
        make_mail("まだ解決していません。\n", subject=f"Re: [#{incident.id}] 質問"),
        at=OPEN + timedelta(hours=1),
    )
    with sessions() as session:
        auto_close = select(TimedAction).where(TimedAction.kind == "auto_close")
        action = session.scalars(auto_close).one()
        assert (action.state, action.done_at) == ("cancelled", OPEN + timedelta(hours=1))


def test_r21_mail_claiming_to_be_staff_is_held_never_relayed(pipeline, sessions) -> None:
    receive(pipeline, make_mail(FIELDS_BLOCK + "\n質問です。\n"))
    [incident] = incidents(sessions)
    with sessions.begin() as session:  # a staff account, writing to the plain intake address
        session.add(StaffUser(email="staff@example.jp", name="Staff", reply_secret="ab" * 32))
    sent_before = len(outbox(sessions, "ack")) + len(outbox(sessions, "answer"))
    claim = make_mail(
        "お客様へ: 設定を変更してください。\n",
        sender="staff@example.jp",
        subject=f"Re: [#{incident.id}] 質問",
    )
    raw_id = receive(pipeline, claim)
    with sessions() as session:
        raw = session.get(RawMessage, raw_id)
        assert raw.state == RawState.HELD and "staff" in raw.last_error
        thread = session.scalars(
            select(IncidentMessage).where(IncidentMessage.incident_id == incident.id)
        ).all()
        assert all(m.raw_message_id != raw_id for m in thread)  # not attached
    # never relayed to the customer (staff are told: staff_alert)
    assert len(outbox(sessions, "ack")) + len(outbox(sessions, "answer")) == sent_before
