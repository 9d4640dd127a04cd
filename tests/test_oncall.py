"""R22: an urgent inquiry received outside business hours is paged to the on-call addresses.

Real SQLite/PostgreSQL (``sessions``), real templates; phone inquiries accepted directly, mail
through the pipeline (the classifier decides what is urgent).
"""

from __future__ import annotations

import email
from dataclasses import replace
from datetime import datetime
from email import policy

import pytest
from sqlalchemy import select

from intake.accept import accept
from intake.config import Config, load_config
from intake.incidents import CreatedIncident
from intake.models import AuditEntry, Incident, OutboxMail
from intake.pipeline import Pipeline
from intake.submission import Item
from scheduler.calendar import TOKYO
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.test_accept import load_registry, phone, receive

SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=TOKYO)
WEEKDAY_NIGHT = datetime(2026, 11, 24, 22, 0, tzinfo=TOKYO)  # Tuesday
WEEKDAY_OPEN = datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)
ONCALL = ["oncall@example.jp", "night-duty@example.jp"]
REGISTRY_ROW = "C0123-4567,株式会社サンプル商事,example.co.jp,it@example.co.jp,,\n"


def with_oncall(config: Config, addresses: list[str]) -> Config:
    helpdesk = replace(config.profiles["helpdesk"], oncall_addresses=addresses)
    return replace(config, profiles={**config.profiles, "helpdesk": helpdesk})


@pytest.fixture
def config() -> Config:
    return with_oncall(load_config(None, env={}), ONCALL)


def accept_phone(sessions, config: Config, at: datetime, *, urgent: bool) -> CreatedIncident:
    intake = phone(text_="サーバーが停止しました。")
    intake.items = [Item("サーバーが停止しました。", "fault", urgent)]
    intake.received_at = at
    with sessions.begin() as session:
        [created] = accept(session, config, intake, at)
    return created


def pages(sessions) -> list[OutboxMail]:
    with sessions() as session:
        return list(
            session.scalars(
                select(OutboxMail).where(OutboxMail.kind == "oncall").order_by(OutboxMail.id)
            )
        )


def decoded(mail: OutboxMail) -> email.message.EmailMessage:
    return email.message_from_bytes(mail.data, policy=policy.default)


@pytest.mark.parametrize("at", [SATURDAY, WEEKDAY_NIGHT], ids=["saturday", "weekday-night"])
def test_r22_urgent_phone_inquiry_after_hours_pages_each_oncall_address(
    config, sessions, at
) -> None:
    load_registry(sessions, REGISTRY_ROW)
    created = accept_phone(sessions, config, at, urgent=True)
    assert "after_hours" in created.flags
    paged = pages(sessions)
    assert sorted(r for mail in paged for r in mail.recipients) == sorted(ONCALL)
    assert all(mail.incident_id == created.id and mail.due_at == at for mail in paged)
    message = decoded(paged[0])
    assert message["Subject"] == f"[#{created.id}] 【緊急・時間外】 サーバーが停止しました。"
    body = message.get_content()
    assert "受付日時: 2026年" in body and "C0123-4567　株式会社サンプル商事" in body
    assert "サーバーが停止しました。" in body and "時間外・請求候補" in body
    assert f"uketsuke incidents reply {created.id} --from" in body
    assert "#time 1時間30分" in body and "#cause" in body and "3,000円" in body


def test_r22_urgent_mail_on_a_weekday_night_pages_with_the_profile_tag(config, sessions) -> None:
    helpdesk = replace(config.profiles["helpdesk"], tag_prefix="uketsuke #")
    config = replace(config, profiles={**config.profiles, "helpdesk": helpdesk})
    receive(
        Pipeline(config, sessions),
        make_mail(
            FIELDS_BLOCK + "\n至急対応をお願いします。メールが送信できません。\n",
            subject="【緊急】メール送信不可",
        ),
        WEEKDAY_NIGHT,
    )
    with sessions() as session:
        incident = session.scalars(select(Incident)).one()
    assert incident.urgent and "after_hours" in incident.flags
    paged = pages(sessions)
    assert len(paged) == len(ONCALL)
    assert decoded(paged[0])["Subject"].startswith(f"[uketsuke #{incident.id}] 【緊急・時間外】")
    assert "至急対応をお願いします。" in decoded(paged[0]).get_content()


def test_r22_urgent_inquiry_in_business_hours_pages_nobody(config, sessions) -> None:
    created = accept_phone(sessions, config, WEEKDAY_OPEN, urgent=True)
    assert created.urgent and "after_hours" not in created.flags
    assert pages(sessions) == []


def test_r22_non_urgent_inquiry_after_hours_pages_nobody(config, sessions) -> None:
    created = accept_phone(sessions, config, SATURDAY, urgent=False)
    assert "after_hours" not in created.flags
    assert pages(sessions) == []


def test_r22_negated_urgency_after_hours_pages_nobody(config, sessions) -> None:
    receive(
        Pipeline(config, sessions),
        make_mail(FIELDS_BLOCK + "\n緊急ではありませんが、操作方法を教えてください。\n"),
        SATURDAY,
    )
    with sessions() as session:
        incident = session.scalars(select(Incident)).one()
    assert not incident.urgent and "after_hours" not in incident.flags
    assert pages(sessions) == []


def test_r22_r27_page_is_internal_mail_not_counted_against_the_hourly_limit(
    config, sessions
) -> None:
    accept_phone(sessions, config, SATURDAY, urgent=True)
    paged = pages(sessions)
    assert paged and all(not mail.automatic and mail.rate_key is None for mail in paged)
    assert decoded(paged[0])["Auto-Submitted"] == "auto-generated"


def test_r22_each_address_paged_once_whatever_its_case(config, sessions) -> None:
    config = with_oncall(config, ["oncall@example.jp", "OnCall@Example.JP"])
    accept_phone(sessions, config, SATURDAY, urgent=True)
    assert [mail.recipients for mail in pages(sessions)] == [["oncall@example.jp"]]


def test_r22_no_oncall_address_is_audited_not_silent(config, sessions, caplog) -> None:
    config = with_oncall(config, [])
    created = accept_phone(sessions, config, SATURDAY, urgent=True)
    assert pages(sessions) == []
    with sessions() as session:
        [entry] = session.scalars(select(AuditEntry)).all()
    assert (entry.action, entry.target) == ("oncall_unconfigured", f"incident:{created.id}")
    assert f"incident #{created.id}" in caplog.text and "@" not in caplog.text  # R26


def acks(sessions) -> list[str]:
    with sessions() as session:
        mails = session.scalars(select(OutboxMail).where(OutboxMail.kind == "ack")).all()
        return [decoded(mail).get_content() for mail in mails]


def test_r22_acknowledgment_tells_the_customer_on_call_was_paged(config, sessions) -> None:
    receive(
        Pipeline(config, sessions),
        make_mail(FIELDS_BLOCK + "\nメールが送信できません。\n", subject="【緊急】メール送信不可"),
        WEEKDAY_NIGHT,
    )
    [ack] = acks(sessions)
    assert "当番の担当者に直ちに連絡いたしました" in ack
    assert "より順次対応いたします" not in ack  # not "we start at the next opening"
    assert "有償となる場合がございます（目安: 30分あたり3,000円）" in ack


@pytest.mark.parametrize(
    ("addresses", "subject", "at"),
    [
        (ONCALL, "メール送信不可", WEEKDAY_NIGHT),  # not urgent
        (ONCALL, "【緊急】メール送信不可", WEEKDAY_OPEN),  # in business hours
        ([], "【緊急】メール送信不可", WEEKDAY_NIGHT),  # nobody to page
    ],
    ids=["not-urgent", "business-hours", "no-oncall-address"],
)
def test_r22_acknowledgment_says_nothing_of_on_call_when_nobody_was_paged(
    config, sessions, addresses, subject, at
) -> None:
    config = with_oncall(config, addresses)
    receive(
        Pipeline(config, sessions),
        make_mail(FIELDS_BLOCK + "\nメールが送信できません。\n", subject=subject),
        at,
    )
    [ack] = acks(sessions)
    assert "当番" not in ack and "対応開始" in ack
