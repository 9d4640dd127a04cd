"""Staff notifications (R20) are threaded per incident, link the dashboard, list the customer's
attachments and name the earlier incident a new one follows. Real SQLite/PostgreSQL, the
daemon's pipeline, real templates."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from intake.models import Incident
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.test_staff_mail import OPEN, STAFF, config, outbox, parsed, pipeline, receive  # noqa: F401

pytestmark = pytest.mark.db


def notifications(sessions) -> list[EmailMessage]:
    return [parsed(mail) for mail in outbox(sessions, "staff_notify")]


def inquiry(pipeline) -> int:  # noqa: F811
    receive(pipeline, make_mail(FIELDS_BLOCK + "\n印刷できません。\n"))
    with pipeline.sessions() as session:
        return session.scalars(select(Incident.id).order_by(Incident.id.desc())).first()


def test_r20_follow_up_notifications_thread_under_the_incidents_first(pipeline, sessions) -> None:  # noqa: F811
    number = inquiry(pipeline)
    [ack] = outbox(sessions, "ack")
    for text in ("追加の情報です。", "もう一つ追記します。"):
        follow = make_mail(
            text + "\n",
            subject=f"Re: [#{number}] お問い合わせ",
            headers={"In-Reply-To": ack.message_id},
        )
        receive(pipeline, follow)
    first, *follow_ups = notifications(sessions)
    assert len(follow_ups) == 2 and first["In-Reply-To"] is None
    for note in follow_ups:
        assert note["In-Reply-To"] == first["Message-ID"]
        assert first["Message-ID"] in note["References"]
    other = inquiry(pipeline)  # another incident starts a thread of its own
    assert other != number and notifications(sessions)[-1]["In-Reply-To"] is None


def test_r20_notification_links_the_dashboard_when_public_url_is_set(config, sessions) -> None:  # noqa: F811
    from intake.models import StaffUser
    from intake.pipeline import Pipeline

    with sessions.begin() as session:
        session.add(StaffUser(email=STAFF, name="佐藤 花子", reply_secret="ab" * 32, profiles=[]))
    inquiry(Pipeline(config, sessions))
    assert "/staff/incidents/" not in notifications(sessions)[0].get_content()
    linked = replace(config, web=replace(config.web, public_url="https://support.example.co.jp/"))
    number = inquiry(Pipeline(linked, sessions))
    body = notifications(sessions)[-1].get_content()
    assert f"ダッシュボード: https://support.example.co.jp/staff/incidents/{number}\n" in body


def test_r20_notification_lists_the_customers_attachments(pipeline, sessions) -> None:  # noqa: F811
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = (
        "yamada@example.co.jp",
        "support@example.jp",
        "エラーについて",
    )
    message["Message-ID"] = "<attached@example.co.jp>"
    message.set_content(FIELDS_BLOCK + "\n画面のとおりエラーが出ます。\n")
    message.add_attachment(
        b"\x89PNG" + b"0" * 1200, maintype="image", subtype="png", filename="画面.png"
    )
    receive(pipeline, message.as_bytes())
    body = notifications(sessions)[0].get_content()
    assert "■ 添付ファイル" in body and "画面.png（image/png、1,204 バイト）" in body
    receive(pipeline, make_mail(FIELDS_BLOCK + "\n添付なしです。\n"))
    assert "■ 添付ファイル" not in notifications(sessions)[-1].get_content()


def test_r19_r20_notification_names_the_earlier_incident(pipeline, sessions) -> None:  # noqa: F811
    number = inquiry(pipeline)
    with sessions.begin() as session:
        closed = session.get(Incident, number)
        closed.state, closed.closed_at = "closed", OPEN
    receive(
        pipeline,
        make_mail("また同じ症状が出ました。\n", subject=f"Re: [#{number}] 質問"),
        at=OPEN + timedelta(days=10),
    )
    body = notifications(sessions)[-1].get_content()
    assert f"以前のインシデント: [#{number}] 印刷できません。" in body
