"""The hold before sending (送信保留) and approval by a senior (上長承認), by mail through the real
pipeline, templates and outbox dispatcher (Maildir), as test_staff_mail.py."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.approval import approval_reason
from intake.config import load_config
from intake.health import oldest_undelivered
from intake.models import AuditEntry, Incident, IncidentMessage, OutboxMail, StaffUser, TimedAction
from intake.pipeline import Pipeline
from intake.stafftoken import token_in
from intake.states import RawState
from responder.outbox import first_due
from scheduler.calendar import TOKYO
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.test_staff_mail import (
    HOLD,
    STAFF,
    outbox,
    parsed,
    receive,
    send_due,
    staff_reply,
)

OPEN = datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)
AUTO_CLOSE = select(TimedAction).where(TimedAction.kind == "auto_close")
SENIOR = "kato@example.jp"


@pytest.fixture
def config(tmp_path):
    return load_config(None, env={"UKETSUKE_HOME": str(tmp_path / "home")})


def desk(config, sessions, *, needs_approval: bool = False, **terms) -> Pipeline:
    """Sato (who may need approval) and Kato, an approver; the helpdesk's terms changed."""
    if terms:
        profile = dataclasses.replace(config.profile("helpdesk"), **terms)
        config = dataclasses.replace(config, profiles={**config.profiles, "helpdesk": profile})
    with sessions.begin() as session:
        session.add(
            StaffUser(
                email=STAFF, name="佐藤 花子", reply_secret="ab" * 32, needs_approval=needs_approval
            )
        )
        session.add(
            StaffUser(email=SENIOR, name="加藤 部長", reply_secret="cd" * 32, approver=True)
        )
    return Pipeline(config, sessions)


def new_incident(pipeline: Pipeline) -> tuple[int, None, None]:
    mail = make_mail(FIELDS_BLOCK + "\n管理画面にログインできません。\n")
    assert receive(pipeline, mail)[0] == RawState.PROCESSED
    return outbox(pipeline.sessions, "staff_notify")[-1].incident_id, None, None


def notification(sessions, number: int, to: str) -> OutboxMail:
    return [
        row
        for row in outbox(sessions, "staff_notify")
        if row.incident_id == number and row.recipients == [to]
    ][-1]


def delivered(config) -> list[bytes]:
    """What reached the relay (the outbox Maildir)."""
    folder = Path(config.outbox_maildir) / "new"
    return [p.read_bytes() for p in folder.iterdir()] if folder.exists() else []


def reached(config, row: OutboxMail) -> bool:
    return any(row.message_id.encode() in data for data in delivered(config))


def answer_by_mail(pipeline: Pipeline, number: int, text: str, at: datetime, who: str = STAFF):
    note = notification(pipeline.sessions, number, who)
    to = str(parsed(note)["Reply-To"])
    return receive(pipeline, staff_reply(note, text, sender=who, to=to), at=at, to=[to])


def test_hold_answer_left_alone_reaches_the_relay_after_the_hold(config, sessions) -> None:
    pipeline = desk(config, sessions)
    number, _, _ = new_incident(pipeline)
    answer_by_mail(pipeline, number, "再起動してください。", OPEN)
    [answer] = outbox(sessions, "answer")
    assert (answer.state, answer.due_at) == ("pending", OPEN + HOLD)
    send_due(config, sessions, OPEN + HOLD - timedelta(seconds=1))
    assert not reached(config, answer)
    send_due(config, sessions, OPEN + HOLD)
    assert reached(config, answer)


def test_hold_cancel_by_mail_within_the_hold_sends_nothing_and_puts_the_incident_back(
    config, sessions
) -> None:
    pipeline = desk(config, sessions)
    number, _, _ = new_incident(pipeline)
    answer_by_mail(pipeline, number, "#close\n再起動してください。", OPEN)
    with sessions() as session:
        assert session.get(Incident, number).state == "closed"
    answer_by_mail(pipeline, number, "#cancel", OPEN + timedelta(seconds=30))
    [answer] = outbox(sessions, "answer")
    [closed] = outbox(sessions, "closed")
    assert (answer.state, closed.state) == ("cancelled", "cancelled")
    send_due(config, sessions, OPEN + timedelta(hours=1))
    assert not reached(config, answer) and not reached(config, closed)
    assert outbox(sessions, "staff_error") == []
    with sessions() as session:
        incident = session.get(Incident, number)
        assert (incident.state, incident.last_staff_answer_at, incident.closed_at) == (
            "open",
            None,
            None,
        )
        assert session.scalars(AUTO_CLOSE).all() == []  # no auto-close clock
        # The desk and response targets: not the author's any more, the first answer due again.
        assert (incident.assignee, incident.first_response_at) == (None, None)
        assert incident.response_due == incident.first_response_due is not None
        [due] = session.scalars(select(TimedAction).where(TimedAction.kind == "sla_due"))
        assert due.state == "pending"
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "answer_cancelled"))
        assert (entry.actor, entry.target) == (STAFF, f"outbox:{answer.id}")
        note = session.scalars(select(IncidentMessage).where(IncidentMessage.author == STAFF)).one()
        assert note.direction == "note" and note.body.startswith("【送信取消】")


def test_hold_cancel_puts_back_the_auto_close_timer_of_the_previous_answer(
    config, sessions
) -> None:
    pipeline = desk(config, sessions)
    number, _, _ = new_incident(pipeline)
    answer_by_mail(pipeline, number, "一つ目の回答です。", OPEN)
    send_due(config, sessions, OPEN + HOLD)
    with sessions() as session:
        [timer] = session.scalars(AUTO_CLOSE)
        answered = session.get(Incident, number).last_staff_answer_at
    later = OPEN + timedelta(hours=1)
    answer_by_mail(pipeline, number, "二つ目の回答です。", later)
    with sessions() as session:
        assert session.get(TimedAction, timer.id).state == "cancelled"
    answer_by_mail(pipeline, number, "#cancel", later + timedelta(seconds=10))
    with sessions() as session:
        incident = session.get(Incident, number)
        assert (incident.state, incident.last_staff_answer_at) == ("answered", answered)
        restored = session.get(TimedAction, timer.id)
        assert (restored.state, restored.due_at) == ("pending", timer.due_at)


def test_hold_cancel_by_mail_after_sending_gets_staff_error(config, sessions) -> None:
    pipeline = desk(config, sessions)
    number, _, _ = new_incident(pipeline)
    answer_by_mail(pipeline, number, "再起動してください。", OPEN)
    send_due(config, sessions, OPEN + HOLD)
    answer_by_mail(pipeline, number, "#cancel", OPEN + HOLD + timedelta(seconds=5))
    [answer] = outbox(sessions, "answer")
    assert answer.state == "sent"
    [error] = outbox(sessions, "staff_error")
    assert error.recipients == [STAFF]
    assert "すでにお客様へ送信されています" in parsed(error).get_content()
    assert "#cancel を実行できませんでした" in str(parsed(error)["Subject"])
    assert "回答は送信されていません" not in str(parsed(error)["Subject"])  # it was sent
    with sessions() as session:
        assert session.get(Incident, number).state == "answered"


def test_hold_zero_sends_at_once(config, sessions) -> None:
    pipeline = desk(config, sessions, answer_hold_seconds=0)
    number, _, _ = new_incident(pipeline)
    answer_by_mail(pipeline, number, "再起動してください。", OPEN)
    [answer] = outbox(sessions, "answer")
    assert answer.due_at == OPEN
    send_due(config, sessions, OPEN)
    assert reached(config, answer)


def test_approval_needs_approval_answer_waits_and_approve_sends_it(config, sessions) -> None:
    pipeline = desk(config, sessions, needs_approval=True)
    number, _, _ = new_incident(pipeline)
    answer_by_mail(pipeline, number, "再起動してください。", OPEN)
    [answer] = outbox(sessions, "answer")
    assert answer.state == "awaiting_approval"
    send_due(config, sessions, OPEN + timedelta(hours=2))  # the dispatcher never sends it
    assert not reached(config, answer)
    [request] = outbox(sessions, "approval_request")
    assert request.recipients == [SENIOR]
    message = parsed(request)
    token = token_in(str(message["Reply-To"]))
    assert token is not None and token.incident_id == number
    body = message.get_content()
    assert "佐藤 花子" in body and "再起動してください。" in body and "#approve" in body
    to = str(message["Reply-To"])
    approved_at = OPEN + timedelta(hours=3)
    receive(
        pipeline, staff_reply(request, "#approve", sender=SENIOR, to=to), at=approved_at, to=[to]
    )
    [answer] = outbox(sessions, "answer")
    assert (answer.state, answer.due_at) == ("pending", approved_at + HOLD)  # then the hold
    # A relay failure's back-off moves due_at: health and alarms count from this, not from
    # when the answer was written three hours earlier.
    with sessions.begin() as session:  # as after one refused delivery
        failed = session.get(OutboxMail, answer.id)
        failed.attempts, failed.due_at = 1, approved_at + HOLD + timedelta(seconds=30)
    with sessions() as session:
        assert first_due(session.get(OutboxMail, answer.id)) == approved_at + HOLD
        assert oldest_undelivered(session, approved_at + HOLD) == approved_at + HOLD
    send_due(config, sessions, approved_at + HOLD + timedelta(seconds=30))
    assert reached(config, answer)
    with sessions() as session:
        actions = list(session.scalars(select(AuditEntry.action)))
        assert "approval_requested" in actions and "answer_approved" in actions


def test_approval_return_sends_it_back_to_its_author_and_nothing_to_the_customer(
    config, sessions
) -> None:
    pipeline = desk(config, sessions, needs_approval=True)
    number, _, _ = new_incident(pipeline)
    answer_by_mail(pipeline, number, "再起動してください。", OPEN)
    [request] = outbox(sessions, "approval_request")
    to = str(parsed(request)["Reply-To"])
    reply = staff_reply(
        request, "#return 手順が古いです。\n最新の手順書を案内してください。", SENIOR, to
    )
    receive(pipeline, reply, at=OPEN + timedelta(minutes=10), to=[to])
    [answer] = outbox(sessions, "answer")
    assert answer.state == "cancelled"
    send_due(config, sessions, OPEN + timedelta(hours=2))
    assert not reached(config, answer)
    [returned] = outbox(sessions, "approval_returned")
    assert returned.recipients == [STAFF]
    text = parsed(returned).get_content()
    assert "手順が古いです。" in text and "最新の手順書" in text and "加藤 部長" in text
    assert "再起動してください。" in text and "/close/" not in text  # the author's own words
    with sessions() as session:
        assert session.get(Incident, number).state == "open"
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "answer_returned"))
        assert entry.actor == SENIOR


def test_approval_an_approvers_own_answer_needs_none(config, sessions) -> None:
    pipeline = desk(config, sessions, approval_for=["license", "out_of_scope"])
    number, _, _ = new_incident(pipeline)
    with sessions.begin() as session:
        session.get(Incident, number).category = "license"
    answer_by_mail(pipeline, number, "キーを再発行しました。", OPEN, who=SENIOR)
    [answer] = outbox(sessions, "answer")
    assert answer.state == "pending"
    assert outbox(sessions, "approval_request") == []


def test_approval_approve_by_a_member_who_is_not_an_approver_is_refused(config, sessions) -> None:
    pipeline = desk(config, sessions, needs_approval=True)
    number, _, _ = new_incident(pipeline)
    answer_by_mail(pipeline, number, "再起動してください。", OPEN)
    answer_by_mail(pipeline, number, "#approve", OPEN + timedelta(minutes=1))
    [answer] = outbox(sessions, "answer")
    assert answer.state == "awaiting_approval"
    [error] = outbox(sessions, "staff_error")
    assert "承認者ではない" in parsed(error).get_content()


@pytest.mark.parametrize(("category", "flag"), [("license", None), ("general", "out_of_scope")])
def test_approval_for_license_and_out_of_scope_incidents(config, sessions, category, flag) -> None:
    kind = flag or category
    pipeline = desk(config, sessions, approval_for=[kind])
    number, _, _ = new_incident(pipeline)
    answer_by_mail(pipeline, number, "ご確認ください。", OPEN)  # before: not of that kind
    with sessions.begin() as session:
        incident = session.get(Incident, number)
        incident.category = category
        incident.flags = [flag] if flag else []
    answer_by_mail(pipeline, number, "再度ご確認ください。", OPEN + timedelta(minutes=5))
    assert [row.state for row in outbox(sessions, "answer")] == ["pending", "awaiting_approval"]
    [request] = outbox(sessions, "approval_request")
    reason = "ライセンス" if kind == "license" else "サポート対象外"
    assert reason in parsed(request).get_content()


def test_approval_for_attachments_reads_the_composed_answer(config, sessions) -> None:
    profile = dataclasses.replace(config.profile("helpdesk"), approval_for=["attachments"])
    config = dataclasses.replace(config, profiles={**config.profiles, "helpdesk": profile})
    member = StaffUser(email=STAFF, name="佐藤", approver=False, needs_approval=False)
    incident = Incident(profile="helpdesk", category="general", flags=[])
    mail = EmailMessage()
    mail["Subject"] = "Re: [#1] お問い合わせ"
    mail.set_content("設定ファイルを添付します。")
    assert approval_reason(config, member, incident, bytes(mail)) is None
    mail.add_attachment(b"[settings]\n", maintype="text", subtype="plain", filename="a.ini")
    assert approval_reason(config, member, incident, bytes(mail)) == "attachments"
    member.approver = True
    assert approval_reason(config, member, incident, bytes(mail)) is None


def test_hold_cancel_after_the_customer_wrote_leaves_the_incident_open(config, sessions) -> None:
    pipeline = desk(config, sessions)
    number, _, _ = new_incident(pipeline)
    answer_by_mail(pipeline, number, "一つ目の回答です。", OPEN)
    send_due(config, sessions, OPEN + HOLD)
    [first] = outbox(sessions, "answer")
    later = OPEN + timedelta(hours=1)
    answer_by_mail(pipeline, number, "二つ目の回答です。", later)
    follow = make_mail(
        "まだ直りません。",
        subject=f"Re: [#{number}] お問い合わせ",
        headers={"In-Reply-To": parsed(first)["Message-ID"]},
    )
    assert receive(pipeline, follow, at=later + timedelta(seconds=20))[0] == RawState.PROCESSED
    answer_by_mail(pipeline, number, "#cancel", later + timedelta(seconds=40))
    with sessions() as session:
        assert session.get(Incident, number).state == "open"  # the customer waits for staff
        assert [t.state for t in session.scalars(AUTO_CLOSE)] == ["cancelled"]


def test_approval_without_any_approver_alerts_the_staff(config, sessions) -> None:
    pipeline = desk(config, sessions, needs_approval=True)
    with sessions.begin() as session:
        session.scalars(select(StaffUser).where(StaffUser.email == SENIOR)).one().approver = False
    number, _, _ = new_incident(pipeline)
    answer_by_mail(pipeline, number, "再起動してください。", OPEN)
    assert [row.state for row in outbox(sessions, "answer")] == ["awaiting_approval"]
    assert outbox(sessions, "approval_request") == []
    alerts = outbox(sessions, "staff_alert")
    assert {tuple(row.recipients) for row in alerts} == {(STAFF,), (SENIOR,)}
    assert "承認者がいない" in str(parsed(alerts[0])["Subject"])


def test_hold_a_held_answer_counts_for_the_collision_check_a_cancelled_one_does_not(
    config, sessions
) -> None:
    """The desk's 二重対応防止 with the hold: an answer waiting in the outbox is an answer; once
    cancelled it is not, nor is the assignment it made."""
    pipeline = desk(config, sessions)
    number, _, _ = new_incident(pipeline)
    answer_by_mail(pipeline, number, "佐藤の回答です。", OPEN + timedelta(seconds=5))
    answer_by_mail(pipeline, number, "加藤の回答です。", OPEN + timedelta(seconds=10), SENIOR)
    assert [row.state for row in outbox(sessions, "answer")] == ["pending"]
    [collision] = outbox(sessions, "staff_collision")
    assert collision.recipients == [SENIOR]
    answer_by_mail(pipeline, number, "#cancel", OPEN + timedelta(seconds=20))
    with sessions() as session:
        assert session.get(Incident, number).assignee is None
        [unassigned] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "assign").order_by(AuditEntry.id)
        ).all()[1:]
        assert unassigned.detail == {"assignee": None, "how": "answer_cancelled"}
    answer_by_mail(pipeline, number, "加藤の回答です。", OPEN + timedelta(seconds=30), SENIOR)
    assert [row.state for row in outbox(sessions, "answer")] == ["cancelled", "pending"]
    assert len(outbox(sessions, "staff_collision")) == 1
    with sessions() as session:
        assert session.get(Incident, number).assignee == SENIOR


def test_approval_an_answer_awaiting_approval_counts_for_the_collision_check(
    config, sessions
) -> None:
    pipeline = desk(config, sessions, needs_approval=True)
    number, _, _ = new_incident(pipeline)
    answer_by_mail(pipeline, number, "佐藤の回答です。", OPEN + timedelta(seconds=5))
    assert [row.state for row in outbox(sessions, "answer")] == ["awaiting_approval"]
    answer_by_mail(pipeline, number, "加藤の回答です。", OPEN + timedelta(seconds=10), SENIOR)
    assert [row.state for row in outbox(sessions, "answer")] == ["awaiting_approval"]
    [collision] = outbox(sessions, "staff_collision")
    assert collision.recipients == [SENIOR]
