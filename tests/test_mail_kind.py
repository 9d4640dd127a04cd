"""Every outgoing mail says its outbox kind in ``X-Uketsuke-Kind`` (issue 15), so staff and
operators can filter uketsuke's mail in Outlook or Thunderbird; queued through the one function
that queues mail, so no kind can miss it."""

from __future__ import annotations

import email
from datetime import datetime
from email import policy

import pytest
from sqlalchemy import select

from intake.config import load_config
from intake.models import OutboxMail, RawState
from intake.pipeline import Pipeline
from intake.states import OutboxKind
from intake.store import store_raw
from responder.compose import KIND_HEADER
from responder.queue import STAFF, queue_mail
from scheduler.calendar import TOKYO
from tests.mailmaker import FIELDS_BLOCK, make_mail

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=TOKYO)


def kind_of(data: bytes) -> str | None:
    return email.message_from_bytes(data, policy=policy.default)[KIND_HEADER]


@pytest.mark.parametrize("kind", list(OutboxKind))
def test_every_kind_is_named_in_its_mail(sessions, kind: OutboxKind) -> None:
    config = load_config(None, env={})
    with sessions.begin() as session:
        queue_mail(
            session,
            config,
            "helpdesk",
            kind=kind,
            to=["someone@example.co.jp"],
            now=NOW,
            voice=STAFF,
            subject="件名",
            body="本文",
        )
    with sessions() as session:
        [row] = session.scalars(select(OutboxMail))
        assert row.kind == kind
        assert kind_of(row.data) == kind.value


def test_r10_the_acknowledgment_says_it_is_an_ack(sessions) -> None:
    config = load_config(None, env={})
    data = make_mail(FIELDS_BLOCK + "\n印刷できません。\n")
    raw = store_raw(sessions, data, channel="smtp", profile="helpdesk")
    assert Pipeline(config, sessions).process(raw.id, NOW) == RawState.PROCESSED
    with sessions() as session:
        [ack] = session.scalars(select(OutboxMail).where(OutboxMail.kind == OutboxKind.ACK))
        assert kind_of(ack.data) == "ack"
