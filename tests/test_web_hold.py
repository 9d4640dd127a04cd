"""The dashboard's 送信取消 and 承認待ち (Flask test client, real SQLite/PostgreSQL, the real
pipeline and outbox dispatcher), as test_web_staff.py."""

from __future__ import annotations

import email
from datetime import timedelta
from email import policy

from sqlalchemy import select, update
from werkzeug.security import generate_password_hash

from intake.models import AuditEntry, Incident, OutboxMail, StaffUser
from intake.web import create_app
from scheduler.service import make_dispatcher
from tests.test_web_staff import (  # noqa: F401 - client, config, desk, staff: fixtures
    OPEN,
    PASSWORD,
    STAFF,
    Clock,
    client,
    config,
    desk,
    login,
    outbox,
    post,
    receive,
    staff,
)

SENIOR = "kato@example.jp"


def test_dashboard_cancel_within_the_hold_shows_seconds_left_and_sends_nothing(
    config,  # noqa: F811
    staff,  # noqa: F811
    desk,  # noqa: F811
) -> None:  # noqa: F811
    [number] = receive(config, desk, "印刷できません。")
    post(staff, f"/staff/incidents/{number}/answer", text="ドライバを更新してください。")
    [answer] = outbox(desk, "answer")
    page = staff.get(f"/staff/incidents/{number}")
    assert "送信待ちの回答" in page.text and "送信取消" in page.text
    assert f'id="seconds-left-{answer.id}">60</span> 秒' in page.text
    done = post(staff, f"/staff/incidents/{number}/cancel_answer", outbox=str(answer.id))
    assert done.status_code == 303
    [answer] = outbox(desk, "answer")
    assert answer.state == "cancelled"
    make_dispatcher(config, desk).run_once(OPEN + timedelta(hours=1))
    assert outbox(desk, "answer")[0].sent_at is None
    with desk() as session:
        assert session.get(Incident, number).state == "open"
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "answer_cancelled"))
        assert entry.actor == STAFF
    page = staff.get(f"/staff/incidents/{number}")
    assert "送信を取り消しました" in page.text and "送信待ちの回答" not in page.text


def test_dashboard_cancel_after_sending_is_refused(config, staff, desk) -> None:  # noqa: F811
    [number] = receive(config, desk, "印刷できません。")
    post(staff, f"/staff/incidents/{number}/answer", text="ドライバを更新してください。")
    make_dispatcher(config, desk).run_once(OPEN + timedelta(seconds=60))
    [answer] = outbox(desk, "answer")
    assert answer.state == "sent"
    refused = post(staff, f"/staff/incidents/{number}/cancel_answer", outbox=str(answer.id))
    assert refused.status_code == 400 and "すでに送信されたため" in refused.text


def _approvals(config, desk):  # noqa: F811
    """Sato needs approval; Kato approves, logged in on a client of his own."""
    with desk.begin() as session:
        session.execute(
            update(StaffUser).where(StaffUser.email == STAFF).values(needs_approval=True)
        )
        session.add(
            StaffUser(
                email=SENIOR,
                name="加藤 部長",
                reply_secret="cd" * 32,
                approver=True,
                password_hash=generate_password_hash(PASSWORD, method="scrypt"),
            )
        )
    senior = create_app(config, desk, Clock(OPEN + timedelta(minutes=30))).test_client()
    assert login(senior, SENIOR).status_code == 303
    return senior


def test_dashboard_approvals_list_approve_and_send(config, staff, desk) -> None:  # noqa: F811
    senior = _approvals(config, desk)
    [number] = receive(config, desk, "印刷できません。")
    post(staff, f"/staff/incidents/{number}/answer", text="ドライバを更新してください。")
    [answer] = outbox(desk, "answer")
    assert answer.state == "awaiting_approval"
    mine = staff.get("/staff/approvals")
    assert "ドライバを更新してください。" in mine.text and "承認者だけが" in mine.text
    page = senior.get("/staff/approvals")
    assert (
        "承認待ち（1件）" in page.text and "承認して送信" in page.text and "差し戻し" in page.text
    )
    assert f"[#{number}]" in page.text and "ドライバを更新してください。" in page.text
    done = post(senior, f"/staff/incidents/{number}/approve_answer", outbox=str(answer.id))
    assert done.status_code == 303
    [answer] = outbox(desk, "answer")
    approved = OPEN + timedelta(minutes=30)
    assert (answer.state, answer.due_at) == ("pending", approved + timedelta(seconds=60))
    make_dispatcher(config, desk).run_once(approved + timedelta(seconds=60))
    assert outbox(desk, "answer")[0].state == "sent"
    assert "承認待ちの回答はありません" in senior.get("/staff/approvals").text


def test_dashboard_return_sends_it_back_with_the_reason(config, staff, desk) -> None:  # noqa: F811
    senior = _approvals(config, desk)
    [number] = receive(config, desk, "印刷できません。")
    post(staff, f"/staff/incidents/{number}/answer", text="ドライバを更新してください。")
    [answer] = outbox(desk, "answer")
    refused = post(staff, f"/staff/incidents/{number}/approve_answer", outbox=str(answer.id))
    assert refused.status_code == 400  # the author is no approver
    empty = post(senior, f"/staff/incidents/{number}/return_answer", outbox=str(answer.id))
    assert empty.status_code == 400 and "理由を入力" in empty.text
    done = post(
        senior,
        f"/staff/incidents/{number}/return_answer",
        outbox=str(answer.id),
        reason="型番を確認してから案内してください。",
    )
    assert done.status_code == 303
    assert outbox(desk, "answer")[0].state == "cancelled"
    [returned] = outbox(desk, "approval_returned")
    assert returned.recipients == [STAFF]
    text = email.message_from_bytes(returned.data, policy=policy.default).get_content()
    assert "型番を確認してから案内してください。" in text and "ドライバを更新" in text
    with desk() as session:
        assert session.get(Incident, number).state == "open"
        rows = session.scalars(select(OutboxMail.state).where(OutboxMail.kind == "answer")).all()
        assert rows == ["cancelled"]
