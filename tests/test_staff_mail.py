"""Staff answer from their mail clients (R20, R21), auto-close (R18), through the real pipeline.

Real SQLite/PostgreSQL, real templates, real DKIM signatures (dkimpy, a key made in the test).
"""

from __future__ import annotations

import base64
import email
import email.utils
import re
import subprocess
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from intake import db
from intake.config import StaffConfig, load_config
from intake.models import (
    AuditEntry,
    Incident,
    IncidentMessage,
    OutboxMail,
    RawMessage,
    RawState,
    StaffUser,
    TimedAction,
)
from intake.pipeline import Pipeline
from intake.replykey import reply_key
from intake.staffcommands import CommandError, parse_answer, parse_minutes, strip_notification
from intake.stafftoken import reply_address, token_in, verifies
from intake.store import store_raw
from responder.staffnotify import REPLY_MARKER
from scheduler.calendar import TOKYO
from scheduler.lifecycle import auto_close_due
from scheduler.service import make_dispatcher
from tests.mailmaker import FIELDS_BLOCK, make_mail

OPEN = datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)
CUSTOMER = "yamada@example.co.jp"
STAFF = "sato@example.jp"
# The R18 timer among the incident's timers (a response-target timer is there too).
AUTO_CLOSE_STATE = select(TimedAction.state).where(TimedAction.kind == "auto_close")


@pytest.fixture
def config(tmp_path):
    return load_config(None, env={"UKETSUKE_HOME": str(tmp_path / "home")})


@pytest.fixture
def pipeline(config, sessions) -> Pipeline:
    with sessions.begin() as session:
        session.add(StaffUser(email=STAFF, name="佐藤 花子", reply_secret="ab" * 32, profiles=[]))
    return Pipeline(config, sessions)


FROM_HEADER = object()  # MAIL FROM as a mail client sends it: the From address


def receive(
    pipeline: Pipeline,
    data: bytes,
    at: datetime = OPEN,
    to: list[str] | None = None,
    mail_from: str | None | object = FROM_HEADER,
):
    """Stored as the SMTP door stores it (R21 checks MAIL FROM and From for a token), then
    processed; the raw message's state and error."""
    if mail_from is FROM_HEADER:
        mail_from = email.utils.parseaddr(str(email.message_from_bytes(data)["From"]))[1]
    stored = store_raw(
        pipeline.sessions,
        data,
        channel="smtp",
        profile="helpdesk",
        envelope_from=mail_from,
        envelope_to=to,
    )
    with pipeline.sessions.begin() as session:
        session.get(RawMessage, stored.id).received_at = at
    pipeline.process(stored.id, at)
    with pipeline.sessions() as session:
        raw = session.get(RawMessage, stored.id)
        return raw.state, raw.last_error


def outbox(sessions, kind: str | None = None) -> list[OutboxMail]:
    with sessions() as session:
        query = select(OutboxMail).order_by(OutboxMail.id)
        if kind:
            query = query.where(OutboxMail.kind == kind)
        return list(session.scalars(query))


def parsed(row: OutboxMail) -> EmailMessage:
    return email.message_from_bytes(row.data, policy=policy.default)  # type: ignore[return-value]


HOLD = timedelta(seconds=60)  # answer_hold_seconds, the default


def send_due(config, sessions, at: datetime) -> int:
    """The outbox tick as the daemon runs it (R18: the auto-close clock starts when sent)."""
    return make_dispatcher(config, sessions).run_once(at)


def new_incident(pipeline: Pipeline) -> tuple[int, OutboxMail, str]:
    """A customer's inquiry: its incident, the staff notification and the customer's Message-ID."""
    mail = make_mail(
        FIELDS_BLOCK + "\n管理画面にログインできません。\n", message_id="<q1@example.co.jp>"
    )
    assert receive(pipeline, mail)[0] == RawState.PROCESSED
    [notify] = outbox(pipeline.sessions, "staff_notify")
    return notify.incident_id, notify, "<q1@example.co.jp>"


def staff_reply(notify: OutboxMail, body: str, sender: str = STAFF, to: str | None = None) -> bytes:
    note = parsed(notify)
    quoted = "\n".join("> " + line for line in note.get_content().splitlines())
    return make_mail(
        body + "\n\n" + f"2026年11月24日 10:31 uketsuke <support@example.jp>:\n{quoted}\n",
        subject="Re: " + str(note["Subject"]),
        sender=sender,
        to=to or str(note["Reply-To"]),
        headers={"In-Reply-To": note["Message-ID"], "References": note["Message-ID"]},
    )


def test_r20_new_incident_is_mailed_to_each_staff_member_with_a_tokened_reply_to(
    pipeline, sessions, config
) -> None:
    number, notify, _ = new_incident(pipeline)
    message = parsed(notify)
    assert notify.recipients == [STAFF] and notify.automatic is False  # not an R27 count
    assert f"[#{number}]" in message["Subject"]
    assert message["Auto-Submitted"] == "auto-generated"
    reply_to = str(message["Reply-To"])
    token = token_in(reply_to)
    assert token is not None and token.incident_id == number
    assert reply_to.startswith("support+") and reply_to.endswith("@example.jp")
    assert config.profile_for_address(reply_to) == "helpdesk"  # the SMTP door takes it
    with sessions() as session:
        member = session.scalars(select(StaffUser)).one()
    key = reply_key(config)  # no reply_key configured: the one made in <home> (R21)
    assert verifies(token, key, member.reply_secret, STAFF)
    assert not verifies(token, "", member.reply_secret, STAFF)  # the database's secret alone
    assert not verifies(token, key, "cd" * 32, STAFF)  # another account's secret
    body = message.get_content()
    for expected in (
        "株式会社サンプル商事",
        "C0123-4567",
        "管理画面にログインできません",
        "#close",
    ):
        assert expected in body


def test_r20_staff_answer_is_relayed_threaded_without_token_or_staff_address(
    pipeline, sessions, config
) -> None:
    number, notify, customer_mid = new_incident(pipeline)
    state, _ = receive(
        pipeline,
        staff_reply(notify, "山田様\n\nパスワードを再設定してください。\n\n佐藤"),
        at=OPEN + timedelta(minutes=5),
        to=[str(parsed(notify)["Reply-To"])],
    )
    assert state == RawState.PROCESSED
    [answer] = outbox(sessions, "answer")
    message = parsed(answer)
    assert answer.recipients == [CUSTOMER] and answer.incident_id == number
    assert message["From"].addresses[0].addr_spec == "support@example.jp"
    assert f"[#{number}]" in message["Subject"]
    assert message["In-Reply-To"] == customer_mid
    assert customer_mid in message["References"]
    assert message["Auto-Submitted"] is None  # a person's answer
    text = message.get_content()
    assert "パスワードを再設定してください。" in text and "佐藤 花子" in text
    assert REPLY_MARKER not in text and "管理画面にログインできません" not in text  # quote cut
    assert "support+" not in answer.data.decode("ascii", "replace")
    assert STAFF not in answer.data.decode("ascii", "replace")
    assert answer.due_at == OPEN + timedelta(minutes=5) + HOLD  # the hold before sending
    send_due(config, sessions, OPEN + timedelta(minutes=5) + HOLD - timedelta(seconds=1))
    assert [row.state for row in outbox(sessions, "answer")] == ["pending"]
    send_due(config, sessions, OPEN + timedelta(minutes=5) + HOLD)
    assert [row.state for row in outbox(sessions, "answer")] == ["sent"]
    with sessions() as session:
        incident = session.get(Incident, number)
        assert incident.state == "answered"
        [timer] = session.scalars(select(TimedAction).where(TimedAction.kind == "auto_close"))
        assert timer.state == "pending"
        assert timer.due_at == OPEN + timedelta(minutes=5, hours=120) + HOLD  # R18: from sent
        out = session.scalars(
            select(IncidentMessage).where(
                IncidentMessage.incident_id == number, IncidentMessage.author == STAFF
            )
        ).one()
        assert out.direction == "out" and "パスワード" in out.body


@pytest.mark.parametrize(
    "case", ["forged_from", "bad_token", "foreign_token", "plain_address_with_tag"]
)
def test_r21_unauthenticated_staff_claims_are_held_and_reported_never_relayed(
    pipeline, sessions, case
) -> None:
    number, notify, _ = new_incident(pipeline)
    reply_to = str(parsed(notify)["Reply-To"])
    sender, to = STAFF, reply_to
    if case == "forged_from":
        sender = CUSTOMER
    elif case == "bad_token":
        to = re.sub(r"\.[0-9a-f]{20}@", ".0123456789abcdef0123@", reply_to)
    elif case == "foreign_token":
        with sessions.begin() as session:
            session.add(StaffUser(email="ito@example.jp", name="伊藤", reply_secret="ef" * 32))
        sender = "ito@example.jp"  # another member using Sato's token
    else:
        to = "support@example.jp"
    before = len(outbox(sessions))
    mail = staff_reply(notify, "#close\nお客様へ: 対応しました。", sender=sender, to=to)
    state, reason = receive(pipeline, mail, at=OPEN + timedelta(minutes=5), to=[to])
    assert state == RawState.HELD and "staff claim not trusted" in reason
    new = outbox(sessions)[before:]
    assert {row.kind for row in new} == {"staff_alert"}  # reported, nothing to the customer
    assert all(CUSTOMER not in row.recipients for row in new)
    with sessions() as session:
        assert session.get(Incident, number).state == "open"  # #close not acted on
        assert session.scalars(
            select(AuditEntry).where(AuditEntry.action == "staff_claim_held")
        ).one()


def test_r20_commands_note_category_time_cause_close(pipeline, sessions) -> None:
    number, notify, _ = new_incident(pipeline)
    to = [str(parsed(notify)["Reply-To"])]
    receive(
        pipeline,
        staff_reply(notify, "#note\n#time 1.5h\n#cause customer\n#category setup\n社内メモです。"),
        to=to,
    )
    assert outbox(sessions, "answer") == []  # a note is never relayed
    with sessions() as session:
        incident = session.get(Incident, number)
        assert (incident.category, incident.cause, incident.minutes_worked) == (
            "setup",
            "customer",
            90,
        )
        note = session.scalars(
            select(IncidentMessage).where(IncidentMessage.direction == "note")
        ).one()
        assert note.body == "社内メモです。" and note.author == STAFF
    receive(pipeline, staff_reply(notify, "#close\n解決いたしました。\n佐藤"), to=to)
    [answer] = outbox(sessions, "answer")
    [closed] = outbox(sessions, "closed")
    assert closed.recipients == [CUSTOMER] and "クローズ" in parsed(closed).get_content()
    with sessions() as session:
        assert session.get(Incident, number).state == "closed"
        timers = [(t.kind, t.state) for t in session.scalars(select(TimedAction))]
        assert ("auto_close", "pending") not in timers, timers  # R17: closed, no auto-close


def test_r20_unknown_command_relays_nothing_and_tells_the_staff_member(pipeline, sessions) -> None:
    number, notify, _ = new_incident(pipeline)
    to = [str(parsed(notify)["Reply-To"])]
    state, _ = receive(pipeline, staff_reply(notify, "#closed\nお客様への回答"), to=to)
    assert state == RawState.PROCESSED
    assert outbox(sessions, "answer") == []
    [told] = outbox(sessions, "staff_error")
    assert told.recipients == [STAFF] and "#closed" in parsed(told).get_content()
    with sessions() as session:
        assert session.get(Incident, number).state == "open"


def test_r20_r4_split_makes_a_new_incident_of_the_same_customer(pipeline, sessions) -> None:
    number, notify, _ = new_incident(pipeline)
    to = [str(parsed(notify)["Reply-To"])]
    receive(pipeline, staff_reply(notify, "#split\n別件: 請求書の宛名を変更したい。"), to=to)
    with sessions() as session:
        new = session.scalars(select(Incident).where(Incident.id != number)).one()
        assert new.linked_incident_id == number and new.reply_address == CUSTOMER
        assert new.fields["company"] == "株式会社サンプル商事"
    assert outbox(sessions, "answer") == []
    acks = outbox(sessions, "ack")
    assert len(acks) == 2 and f"[#{new.id}]" in parsed(acks[-1])["Subject"]


def test_r18_customer_message_stops_the_clock_and_auto_reply_does_not(
    pipeline, sessions, config
) -> None:
    number, notify, _ = new_incident(pipeline)
    to = [str(parsed(notify)["Reply-To"])]
    receive(pipeline, staff_reply(notify, "ご確認ください。"), at=OPEN, to=to)
    send_due(config, sessions, OPEN + HOLD)  # R18: the clock starts when it is sent
    [answer] = outbox(sessions, "answer")
    auto = make_mail(
        "不在です。",
        subject=f"自動応答: Re: [#{number}]",
        headers={"Auto-Submitted": "auto-replied", "In-Reply-To": parsed(answer)["Message-ID"]},
    )
    assert receive(pipeline, auto, at=OPEN + timedelta(hours=1))[0] == RawState.IGNORED
    with sessions() as session:
        assert session.scalars(AUTO_CLOSE_STATE).one() == "pending"
    follow = make_mail(
        "まだログインできません。",
        subject=f"Re: [#{number}] 回答",
        headers={"In-Reply-To": parsed(answer)["Message-ID"]},
    )
    assert receive(pipeline, follow, at=OPEN + timedelta(hours=2))[0] == RawState.PROCESSED
    with sessions() as session:
        assert session.scalars(AUTO_CLOSE_STATE).one() == "cancelled"
        assert session.get(Incident, number).state == "open"  # waits for staff again
    assert len(outbox(sessions, "staff_notify")) == 2  # R20: staff told of the follow-up
    assert auto_close_due(sessions, config, OPEN + timedelta(hours=200)) == 0


def test_r18_auto_close_fires_120_hours_after_the_answer_is_sent_not_119_once(
    pipeline, sessions, config, database_url
) -> None:
    number, notify, _ = new_incident(pipeline)
    to = [str(parsed(notify)["Reply-To"])]
    receive(pipeline, staff_reply(notify, "ご確認ください。"), at=OPEN, to=to)
    assert auto_close_due(sessions, config, OPEN + timedelta(hours=200)) == 0  # not sent yet
    sent = OPEN + timedelta(minutes=10)  # the hold, then a relay that was down a while
    send_due(config, sessions, sent)  # R18: the clock starts when the answer is sent
    assert auto_close_due(sessions, config, OPEN + timedelta(hours=120)) == 0
    assert auto_close_due(sessions, config, sent + timedelta(hours=119)) == 0
    # A restart between 119 h and 120 h: new engine and sessions, the timer is a row.
    sessions.kw["bind"].dispose()
    sessions = db.session_factory(db.make_engine(database_url))
    assert auto_close_due(sessions, config, sent + timedelta(hours=120)) == 1
    assert auto_close_due(sessions, config, sent + timedelta(hours=121)) == 0  # once
    [closed] = outbox(sessions, "closed")
    assert "5日間" in parsed(closed).get_content()
    with sessions() as session:
        incident = session.get(Incident, number)
        assert incident.state == "closed"
        assert incident.closed_at == sent + timedelta(hours=120)
    sessions.kw["bind"].dispose()


def _dkim_keys(tmp_path) -> tuple[bytes, bytes]:
    """A fresh RSA key (openssl), and its DKIM TXT record."""
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return key.read_bytes(), b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def test_r21_dkim_signed_staff_answer_without_token_is_trusted(config, sessions, tmp_path) -> None:
    import dataclasses

    import dkim

    private, record = _dkim_keys(tmp_path)
    config = dataclasses.replace(config, staff=StaffConfig(dkim_domains=["example.jp"]))

    def dns(name, timeout=5):  # noqa: ANN001, ANN202 - dkimpy's dnsfunc
        return record if name == b"sel._domainkey.example.jp." else None

    with sessions.begin() as session:
        session.add(StaffUser(email=STAFF, name="佐藤 花子", reply_secret="ab" * 32))
    pipeline = Pipeline(config, sessions, dkim_dns=dns)
    number, notify, _ = new_incident(pipeline)
    unsigned = staff_reply(notify, "DKIMで署名した回答です。", to="support@example.jp")
    signed = dkim.sign(
        unsigned, b"sel", b"example.jp", private, include_headers=[b"from", b"subject", b"to"]
    )
    assert receive(pipeline, signed + unsigned, to=["support@example.jp"])[0] == (
        RawState.PROCESSED
    )
    [answer] = outbox(sessions, "answer")
    assert answer.incident_id == number
    # The same mail altered after signing: held.
    tampered = signed + unsigned.replace(b"\r\n\r\n", b"\r\n\r\n44Gv\r\n", 1)
    assert "DKIM" in (receive(pipeline, tampered, to=["support@example.jp"])[1] or "")


def test_r20_answer_text_parsing() -> None:
    answer = parse_answer(
        "#time 1h30m\n#cause third-party\n本文です。\n山田\n\n"
        "From: uketsuke <support@example.jp>\nSent: Tuesday\nSubject: [#3]\n"
        f"{REPLY_MARKER}\n通知本文\n",
        REPLY_MARKER,
    )
    assert (answer.minutes, answer.cause, answer.text) == (90, "third-party", "本文です。\n山田")
    assert strip_notification("回答\n\n> 引用\n> 引用\n") == "回答"
    assert parse_minutes("1.5h") == 90 and parse_minutes("45分") == 45
    for bad in ("#time soon", "#cause weather", "#category misc", "#close now", "#reopen"):
        with pytest.raises(CommandError):
            parse_answer(bad + "\n本文")


def test_r21_reply_address_token_round_trip() -> None:
    day = OPEN.date()
    address = reply_address("support@example.jp", "k", "s" * 64, 3, "Sato@Example.jp", 42, day)
    token = token_in(address)
    assert token is not None and (token.staff_id, token.incident_id) == (3, 42)
    assert token.issued == "20261124"
    assert verifies(token, "k", "s" * 64, "sato@example.jp")
    assert not verifies(token, "other-key", "s" * 64, "sato@example.jp")
    assert not verifies(token, "k", "s" * 64, "ito@example.jp")
    assert token_in("support@example.jp") is None
    assert token_in("support+hello@example.jp") is None


def test_r18_auto_close_hours_is_read_from_the_profile(config, sessions) -> None:
    import dataclasses

    terms = dataclasses.replace(config.profile("helpdesk"), auto_close_hours=48)
    config = dataclasses.replace(config, profiles={**config.profiles, "helpdesk": terms})
    with sessions.begin() as session:
        session.add(StaffUser(email=STAFF, name="佐藤 花子", reply_secret="ab" * 32))
    pipeline = Pipeline(config, sessions)
    number, notify, _ = new_incident(pipeline)
    to = [str(parsed(notify)["Reply-To"])]
    receive(pipeline, staff_reply(notify, "ご確認ください。"), at=OPEN, to=to)
    send_due(config, sessions, OPEN + HOLD)
    with sessions() as session:
        timer = session.scalars(select(TimedAction).where(TimedAction.kind == "auto_close")).one()
        assert timer.due_at == OPEN + HOLD + timedelta(hours=48)
    assert auto_close_due(sessions, config, OPEN + HOLD + timedelta(hours=47, minutes=59)) == 0
    assert auto_close_due(sessions, config, OPEN + HOLD + timedelta(hours=48)) == 1


def test_r20_staff_addresses_without_account_read_but_cannot_answer(config, sessions) -> None:
    import dataclasses

    terms = dataclasses.replace(config.profile("helpdesk"), staff_addresses=["team@example.jp"])
    config = dataclasses.replace(config, profiles={**config.profiles, "helpdesk": terms})
    pipeline = Pipeline(config, sessions)
    number, notify, _ = new_incident(pipeline)
    assert notify.recipients == ["team@example.jp"]
    assert parsed(notify)["Reply-To"] is None  # no token: reading only
    assert "uketsuke staff add" in parsed(notify).get_content()
    claim = make_mail("回答します。", sender="team@example.jp", subject=f"Re: [#{number}] 質問")
    state, reason = receive(pipeline, claim)
    assert state == RawState.HELD and "without an active staff account" in reason
    with sessions() as session:
        assert session.scalars(select(Incident)).all()[0].id == number  # no new incident
        assert len(session.scalars(select(Incident)).all()) == 1


def test_r17_each_answer_carries_a_single_use_expiring_close_link(
    pipeline, sessions, config, tmp_path
) -> None:

    from intake.closelink import KEY_FILE, verify, web_secret

    number, notify, _ = new_incident(pipeline)
    to = [str(parsed(notify)["Reply-To"])]
    receive(pipeline, staff_reply(notify, "一つ目の回答です。"), to=to)
    receive(pipeline, staff_reply(notify, "二つ目の回答です。"), to=to)
    first, second = (
        re.search(r"/close/(\S+)", parsed(row).get_content()).group(1)  # type: ignore[union-attr]
        for row in outbox(sessions, "answer")
    )
    key = web_secret(config)
    assert (tmp_path / "home" / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert web_secret(config) == key  # kept: links survive a restart
    with sessions() as session:
        nonce = session.get(Incident, number).close_nonce
    assert verify(key, second, nonce, OPEN)
    assert not verify(key, first, nonce, OPEN)  # a later answer voids the older link
    assert not verify(key, second, nonce, OPEN + timedelta(days=31))  # expired
    assert not verify(b"another key", second, nonce, OPEN)
    assert not verify(key, second.replace(f"{number}.", f"{number + 1}.", 1), nonce, OPEN)
    receive(pipeline, staff_reply(notify, "#close"), to=to)
    with sessions() as session:
        assert not verify(key, second, session.get(Incident, number).close_nonce, OPEN)  # used


def test_r19_a_reply_to_staff_mail_never_joins_as_the_customer(pipeline, sessions, config) -> None:
    """Someone answering a staff notification (or an on-call page) without being a trusted staff
    member does not write as the customer: not joined, the auto-close clock untouched."""
    number, notify, _ = new_incident(pipeline)
    receive(pipeline, staff_reply(notify, "回答です。"), to=[str(parsed(notify)["Reply-To"])])
    send_due(config, sessions, OPEN + HOLD)  # R18: the clock starts when the answer is sent
    reply = make_mail(
        "対応しておきます。",
        sender="oncall@example.jp",
        subject=str(parsed(notify)["Subject"]),
        headers={"In-Reply-To": parsed(notify)["Message-ID"]},
    )
    state, reason = receive(pipeline, reply, at=OPEN + timedelta(hours=1))
    assert state == RawState.HELD and "not a participant" in reason
    with sessions() as session:
        assert session.get(Incident, number).state == "answered"
        assert session.scalars(AUTO_CLOSE_STATE).one() == "pending"


def test_r17_close_link_uses_public_url_and_close_link_days(config) -> None:
    import dataclasses

    from intake.closelink import close_url, token_incident

    web = dataclasses.replace(
        config.web, public_url="https://support.example.jp/", close_link_days=7
    )
    link, until = close_url(dataclasses.replace(config, web=web), 42, "n" * 32, OPEN)
    assert link.startswith("https://support.example.jp/close/42.")
    assert until == OPEN + timedelta(days=7)
    assert token_incident(link.rpartition("/")[2]) == 42
    default, _ = close_url(config, 42, "n" * 32, OPEN)
    assert default.startswith("http://127.0.0.1:8080/close/")


def test_r19_a_reply_to_a_merged_incident_joins_the_incident_it_was_merged_into(
    pipeline, sessions
) -> None:
    first, notify, customer_mid = new_incident(pipeline)
    second_mail = make_mail(
        FIELDS_BLOCK + "\n印刷もできません。\n", message_id="<q2@example.co.jp>"
    )
    assert receive(pipeline, second_mail)[0] == RawState.PROCESSED
    with sessions.begin() as session:  # what the dashboard's 統合 leaves behind
        merged = session.scalars(select(Incident).where(Incident.id != first)).one()
        merged.state, merged.flags = "closed", [*merged.flags, "merged"]
        merged.linked_incident_id, merged.closed_at = first, OPEN
        number = merged.id
    reply = make_mail(
        "追加の情報です。",
        subject=f"Re: [#{number}] お問い合わせ",
        headers={"In-Reply-To": "<q2@example.co.jp>"},
    )
    assert receive(pipeline, reply, at=OPEN + timedelta(hours=1))[0] == RawState.PROCESSED
    with sessions() as session:
        assert len(session.scalars(select(Incident)).all()) == 2  # no new linked incident
        joined = session.scalars(
            select(IncidentMessage).where(IncidentMessage.body.contains("追加の情報です"))
        ).one()
        assert joined.incident_id == first
