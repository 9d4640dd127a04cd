"""R2, R27: the ask-fields mail quotes nothing a stranger typed (issue 15, finding 11).

Anyone can put any address in From or Reply-To, so a mail asking for missing fields is
backscatter when its recipient is not who they claim to be: it must not carry their text to that
address. It names the missing fields by their fixed labels; the typed 社名 and 氏名, the subject
and the body are quoted only to a registered contact of the customer the inquiry names.
"""

from __future__ import annotations

import email
from datetime import datetime
from email import policy

import pytest
from sqlalchemy import select

from intake.accept import accept
from intake.config import load_config
from intake.customers import import_rows, parse_rows
from intake.models import OutboxMail, RawMessage
from intake.outcomes import Held
from intake.pipeline import Pipeline
from intake.store import store_raw
from intake.submission import Intake, Item
from scheduler.calendar import TOKYO
from tests.mailmaker import make_mail

OPEN = datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)
COMPANY = "激安コピー品はspam.example.netへ"
NAME = "今すぐクリック"
SUBJECT = "当選のお知らせ http://spam.example.net/"
BODY_LINE = "こちらから受け取ってください http://spam.example.net/claim"
TYPED = f"会社名：{COMPANY}\n氏名：{NAME}\n顧客番号：C0123-4567\n\n{BODY_LINE}\n"
REGISTRY = "C0123-4567,株式会社サンプル商事,example.co.jp,yamada@example.co.jp,helpdesk,\n"


@pytest.fixture
def pipeline(sessions) -> Pipeline:
    return Pipeline(load_config(None, env={}), sessions)


def load_registry(sessions) -> None:
    header = "customer_number,company,domains,contact_emails,profile,order_accepted\n"
    rows = parse_rows((header + REGISTRY).encode(), "helpdesk", ["helpdesk", "desknet"])
    with sessions.begin() as session:
        import_rows(session, rows, progress=False)


def ask_mail(pipeline: Pipeline, data: bytes) -> tuple[list[str], str, str]:
    stored = store_raw(pipeline.sessions, data, channel="smtp", profile="helpdesk")
    with pipeline.sessions.begin() as session:
        session.get(RawMessage, stored.id).received_at = OPEN
    pipeline.process(stored.id, OPEN)
    with pipeline.sessions() as session:
        [row] = session.scalars(select(OutboxMail).where(OutboxMail.kind == "ask_fields")).all()
        message = email.message_from_bytes(row.data, policy=policy.default)
        return row.recipients, str(message["Subject"]), message.get_content()


def assert_quotes_nothing_typed(subject: str, text: str) -> None:
    for typed in (COMPANY, NAME, "spam.example.net", "当選", "受け取って"):
        assert typed not in subject + text
    assert "お客様" in text
    assert "・ドメイン名" in text  # what is missing, by its fixed label
    assert "・社名" not in text and "・氏名" not in text


def test_r2_r27_ask_fields_to_a_stranger_quotes_nothing_they_typed(pipeline) -> None:
    to, subject, text = ask_mail(
        pipeline, make_mail(TYPED, subject=SUBJECT, sender="victim@example.org")
    )
    assert to == ["victim@example.org"]
    assert_quotes_nothing_typed(subject, text)


def test_r2_r27_known_customer_number_from_an_unregistered_address_quotes_nothing(
    pipeline, sessions
) -> None:
    load_registry(sessions)
    _, subject, text = ask_mail(
        pipeline, make_mail(TYPED, subject=SUBJECT, sender="victim@example.org")
    )
    assert_quotes_nothing_typed(subject, text)


def test_r2_r27_a_contact_among_unregistered_recipients_quotes_nothing(pipeline, sessions) -> None:
    """A form's reply addresses are typed too: one stranger among them and nothing is quoted."""
    load_registry(sessions)
    intake = Intake(
        channel="web",
        profile="helpdesk",
        fields={"company": COMPANY, "name": NAME, "domain": None, "customer_number": "C0123-4567"},
        items=[Item(BODY_LINE, "question", False)],
        subject=SUBJECT,
        received_at=OPEN,
        reply_to=["yamada@example.co.jp", "victim@example.org"],
    )
    with sessions.begin() as session, pytest.raises(Held):
        accept(session, pipeline.config, intake, OPEN)  # the pipeline commits a hold
    with sessions() as session:
        [row] = session.scalars(select(OutboxMail).where(OutboxMail.kind == "ask_fields")).all()
        message = email.message_from_bytes(row.data, policy=policy.default)
    assert row.recipients == ["yamada@example.co.jp", "victim@example.org"]
    assert_quotes_nothing_typed(str(message["Subject"]), message.get_content())


def test_r2_registered_contact_still_sees_their_company_and_name(pipeline, sessions) -> None:
    load_registry(sessions)
    data = make_mail(
        "会社名：株式会社サンプル商事\n氏名：山田 太郎\n顧客番号：C0123-4567\n\n質問です。\n",
        sender="Yamada@Example.co.jp",
    )
    _, _, text = ask_mail(pipeline, data)
    assert "株式会社サンプル商事" in text and "山田 太郎 様" in text
    assert "・ドメイン名" in text
