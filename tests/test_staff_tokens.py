"""Staff reply tokens (R21, issue 15): the envelope sender, the token's age, a From naming several
mailboxes; through the real pipeline (SQLite/PostgreSQL, templates), as test_staff_mail.py."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from intake.config import StaffConfig, load_config
from intake.models import AuditEntry, Incident, OutboxMail, RawMessage, RawState, StaffUser
from intake.pipeline import Pipeline
from intake.store import store_raw
from scheduler.calendar import TOKYO
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.test_staff_mail import outbox, parsed, receive

OPEN = datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)
CUSTOMER = "yamada@example.co.jp"
STAFF = "sato@example.jp"
SECRET = "ab" * 32


@pytest.fixture
def config(tmp_path):
    return load_config(None, env={"UKETSUKE_HOME": str(tmp_path / "home")})


def staffed(config, sessions, **staff) -> Pipeline:
    if staff:
        config = dataclasses.replace(config, staff=StaffConfig(**staff))
    with sessions.begin() as session:
        session.add(StaffUser(email=STAFF, name="佐藤 花子", reply_secret=SECRET, profiles=[]))
    return Pipeline(config, sessions)


@pytest.fixture
def pipeline(config, sessions) -> Pipeline:
    return staffed(config, sessions)


def new_incident(pipeline: Pipeline, at: datetime = OPEN) -> tuple[int, OutboxMail]:
    mail = make_mail(FIELDS_BLOCK + "\n管理画面にログインできません。\n")
    state, _ = receive(pipeline, mail, to=["support@example.jp"], mail_from=CUSTOMER, at=at)
    assert state == RawState.PROCESSED
    notify = outbox(pipeline.sessions, "staff_notify")[-1]
    return notify.incident_id, notify


def answer(notify: OutboxMail, *, sender: str = STAFF, to: str | None = None) -> bytes:
    note = parsed(notify)
    return make_mail(
        "#close\n山田様\n\n対応いたしました。\n\n佐藤",
        subject="Re: " + str(note["Subject"]),
        sender=sender,
        to=to or str(note["Reply-To"]),
        headers={"In-Reply-To": note["Message-ID"], "References": note["Message-ID"]},
    )


def assert_held(sessions, number: int, before: int, reason: str | None, alert: str) -> None:
    """R21: held, the staff alerted (in Japanese), audited, nothing relayed, nothing acted on."""
    assert reason is not None and "staff claim not trusted" in reason
    new = outbox(sessions)[before:]
    assert [row.kind for row in new] == ["staff_alert"]
    assert all(CUSTOMER not in row.recipients for row in new)
    text = parsed(new[0]).get_content()
    assert "保留しました" in text and alert in text, text
    with sessions() as session:
        assert session.get(Incident, number).state == "open"  # #close not acted on
        assert session.scalars(
            select(AuditEntry).where(AuditEntry.action == "staff_claim_held")
        ).one()


def test_r21_token_with_a_forged_envelope_sender_is_held(pipeline, sessions) -> None:
    """The security test's case: MAIL FROM attacker, From: sato, RCPT sato's token address."""
    number, notify = new_incident(pipeline)
    reply_to = str(parsed(notify)["Reply-To"])
    before = len(outbox(sessions))
    state, reason = receive(
        pipeline,
        answer(notify),
        to=[reply_to],
        mail_from="attacker@evil.example",
        at=OPEN + timedelta(minutes=5),
    )
    assert state == RawState.HELD
    assert_held(sessions, number, before, reason, "エンベロープ")


@pytest.mark.parametrize("mail_from", ["", None])
def test_r21_token_without_an_envelope_sender_is_held(pipeline, sessions, mail_from) -> None:
    """No MAIL FROM known (the null sender ``<>``, or none stored): nothing proves the sender."""
    number, notify = new_incident(pipeline)
    reply_to = str(parsed(notify)["Reply-To"])
    before = len(outbox(sessions))
    state, reason = receive(pipeline, answer(notify), to=[reply_to], mail_from=mail_from)
    assert state == RawState.HELD
    assert_held(sessions, number, before, reason, "エンベロープ")


def test_r21_token_with_the_staff_envelope_sender_in_any_case_is_trusted(
    pipeline, sessions
) -> None:
    number, notify = new_incident(pipeline)
    reply_to = str(parsed(notify)["Reply-To"])
    state, reason = receive(pipeline, answer(notify), to=[reply_to], mail_from="Sato@Example.JP")
    assert (state, reason) == (RawState.PROCESSED, None)
    [relayed] = outbox(sessions, "answer")
    assert relayed.recipients == [CUSTOMER]
    with sessions() as session:
        assert session.get(Incident, number).state == "closed"


def test_r21_token_carries_its_issue_day_and_expires_after_token_days(pipeline, sessions) -> None:
    number, notify = new_incident(pipeline)
    reply_to = str(parsed(notify)["Reply-To"])
    assert re.fullmatch(rf"support\+\d+\.{number}\.20261124\.[0-9a-f]{{20}}@example\.jp", reply_to)
    before = len(outbox(sessions))
    late = OPEN + timedelta(days=30)  # 2026-12-24: the 30 days are over
    state, reason = receive(pipeline, answer(notify), to=[reply_to], mail_from=STAFF, at=late)
    assert state == RawState.HELD and "expired" in (reason or "")
    assert_held(sessions, number, before, reason, "有効期限")
    in_time = OPEN + timedelta(days=29, hours=13)  # 2026-12-23 23:30 in Tokyo: the last day
    state, reason = receive(pipeline, answer(notify), to=[reply_to], mail_from=STAFF, at=in_time)
    assert (state, reason) == (RawState.PROCESSED, None)


def test_r21_token_days_is_read_from_the_configuration(config, sessions) -> None:
    pipeline = staffed(config, sessions, token_days=2)
    number, notify = new_incident(pipeline)
    reply_to = str(parsed(notify)["Reply-To"])
    before = len(outbox(sessions))
    at = OPEN + timedelta(days=2)
    state, reason = receive(pipeline, answer(notify), to=[reply_to], mail_from=STAFF, at=at)
    assert state == RawState.HELD and "expired" in (reason or "")
    assert_held(sessions, number, before, reason, "有効期限")
    assert StaffConfig().token_days == 30


def _old_token(key: str, staff_id: int, incident_id: int) -> str:
    """A reply address as made before tokens carried their day: ``support+S.N.MAC@…``."""
    message = f"{staff_id}.{incident_id}.{STAFF}".encode()
    mac = hmac.new(f"{key}\x00{SECRET}".encode(), message, hashlib.sha256).hexdigest()[:20]
    return f"support+{staff_id}.{incident_id}.{mac}@example.jp"


def test_r21_old_token_without_an_issue_day_is_refused_as_expired(config, sessions) -> None:
    pipeline = staffed(config, sessions, reply_key="k" * 32)
    number, notify = new_incident(pipeline)
    with sessions() as session:
        staff_id = session.scalars(select(StaffUser.id)).one()
    old = _old_token("k" * 32, staff_id, number)
    before = len(outbox(sessions))
    state, reason = receive(pipeline, answer(notify, to=old), to=[old], mail_from=STAFF)
    assert state == RawState.HELD and "expired" in (reason or "")
    assert_held(sessions, number, before, reason, "有効期限")


@pytest.mark.parametrize(
    "header",
    [
        "sato@example.jp, attacker@evil.example",
        "attacker@evil.example, sato@example.jp",
        "=?utf-8?b?5L2Q6Jek?= <sato@example.jp>, <attacker@evil.example>",
        "two From fields",
    ],
)
def test_r21_a_from_with_two_mailboxes_is_never_staff(pipeline, sessions, header) -> None:
    number, notify = new_incident(pipeline)
    reply_to = str(parsed(notify)["Reply-To"])
    if header == "two From fields":
        mail = answer(notify).replace(
            b"From: sato@example.jp", b"From: sato@example.jp\r\nFrom: attacker@evil.example", 1
        )
    else:
        mail = answer(notify, sender=header)
    before = len(outbox(sessions))
    state, reason = receive(pipeline, mail, to=[reply_to], mail_from=STAFF)
    assert state == RawState.HELD
    assert_held(sessions, number, before, reason, "複数")


def test_r21_a_token_made_with_only_the_database_secret_is_refused(pipeline, sessions) -> None:
    """No reply_key configured: the account's secret (readable in the database) with an empty key
    must not make a token that works."""
    from intake.stafftoken import _mac

    number, notify = new_incident(pipeline)
    with sessions() as session:
        member = session.scalars(select(StaffUser)).one()
        staff_id, secret = member.id, member.reply_secret
    mac = _mac("", secret, staff_id, STAFF, number, "20261124")
    forged = f"support+{staff_id}.{number}.20261124.{mac}@example.jp"
    before = len(outbox(sessions))
    state, reason = receive(pipeline, answer(notify, to=forged), to=[forged], mail_from=STAFF)
    assert state == RawState.HELD and "does not verify" in (reason or "")
    assert_held(sessions, number, before, reason, "トークン")


def test_r21_a_token_never_verifies_nor_is_made_without_a_key() -> None:
    from intake.stafftoken import reply_address, token_in, verifies

    with pytest.raises(ValueError):
        reply_address("support@example.jp", "", SECRET, 3, STAFF, 42, OPEN.date())
    token = token_in(reply_address("support@example.jp", "k", SECRET, 3, STAFF, 42, OPEN.date()))
    assert token is not None and verifies(token, "k", SECRET, STAFF)
    assert not verifies(token, "", SECRET, STAFF)


def test_r21_without_a_configured_key_one_is_made_once_in_home_0600(
    pipeline, sessions, config, tmp_path
) -> None:
    from intake.replykey import KEY_FILE, reply_key
    from intake.stafftoken import token_in, verifies

    number, notify = new_incident(pipeline)  # the notification made the key
    path = tmp_path / "home" / KEY_FILE
    assert KEY_FILE == "staff-reply.key"
    assert path.stat().st_mode & 0o777 == 0o600
    key = reply_key(config)
    assert len(key) >= 64 and path.read_text().strip() == key
    assert reply_key(config) == key  # kept: tokens survive a restart
    token = token_in(str(parsed(notify)["Reply-To"]))
    assert token is not None and verifies(token, key, SECRET, STAFF)
    assert not verifies(token, "", SECRET, STAFF)
    state, _ = receive(
        pipeline, answer(notify), to=[str(parsed(notify)["Reply-To"])], mail_from=STAFF
    )
    assert state == RawState.PROCESSED


def test_r21_a_configured_reply_key_is_used_and_no_file_is_made(tmp_path) -> None:
    from intake.replykey import KEY_FILE, reply_key

    home = tmp_path / "elsewhere"
    env = {"UKETSUKE_HOME": str(home), "UKETSUKE_STAFF_REPLY_KEY": "e" * 40}
    assert reply_key(load_config(None, env=env)) == "e" * 40
    configured = dataclasses.replace(
        load_config(None, env={"UKETSUKE_HOME": str(home)}), staff=StaffConfig(reply_key="c" * 40)
    )
    assert reply_key(configured) == "c" * 40
    assert not (home / KEY_FILE).exists()


def receive_by_imap(pipeline: Pipeline, data: bytes, at: datetime) -> tuple[str, str | None]:
    stored = store_raw(pipeline.sessions, data, channel="imap", profile="helpdesk")
    with pipeline.sessions.begin() as session:
        session.get(RawMessage, stored.id).received_at = at
    pipeline.process(stored.id, at)
    with pipeline.sessions() as session:
        raw = session.get(RawMessage, stored.id)
        return raw.state, raw.last_error


@pytest.mark.parametrize(
    ("return_path", "state"),
    [("<Sato@example.jp>", RawState.PROCESSED), ("<attacker@evil.example>", RawState.HELD)],
)
def test_r21_an_answer_fetched_by_imap_is_judged_by_its_delivered_return_path(
    pipeline, sessions, return_path: str, state: str
) -> None:
    """IMAP mail has no MAIL FROM of ours: the delivering server's Return-Path (the topmost,
    written from the envelope) stands for it; a sender's own further down does not count."""
    number, notify = new_incident(pipeline)
    data = (
        f"Return-Path: {return_path}\r\n".encode()
        + answer(notify).replace(b"\r\n\r\n", b"\r\nReturn-Path: <sato@example.jp>\r\n\r\n", 1)
    )
    got, _ = receive_by_imap(pipeline, data, OPEN + timedelta(minutes=5))
    assert got == state
    with sessions() as session:
        closed = session.get(Incident, number).state == "closed"
    assert closed == (state == RawState.PROCESSED)
