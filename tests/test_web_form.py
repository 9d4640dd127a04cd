"""The customer forms and the close page through Flask's test client (R1-R3, R7, R8, R14, R15,
R17, R29, R30), on real SQLite/PostgreSQL, through the same accept as mail."""

from __future__ import annotations

import email
import io
import re
from datetime import datetime
from email import policy

import pytest
from sqlalchemy import select

from intake.config import load_config
from intake.customers import import_rows, parse_rows
from intake.models import Incident, OutboxMail, RawMessage, RawState, StaffUser
from intake.web import create_app
from scheduler.calendar import TOKYO
from scheduler.clock import FixedClock as Clock
from scheduler.cutoff import license_due

OPEN = datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)
FRIDAY_LATE = datetime(2027, 1, 8, 17, 0, 1, tzinfo=TOKYO)  # Monday 01-11 is 成人の日
FIELDS = {
    "company": "株式会社サンプル商事",
    "name": "山田 太郎",
    "domain": "example.co.jp",
    "customer_number": "C0123-4567",
    "email": "yamada@example.co.jp",
}




@pytest.fixture
def clock() -> Clock:
    return Clock(OPEN)


@pytest.fixture
def config(tmp_path):
    return load_config(None, env={"UKETSUKE_HOME": str(tmp_path / "home")})


@pytest.fixture
def client(config, sessions, clock):
    app = create_app(config, sessions, clock)
    return app.test_client()


def token(client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)


def inquiry(client, path: str = "/helpdesk/inquiry", **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "csrf_token": token(client, path),
        **FIELDS,
        "category": "fault",
        "subject": "印刷できない",
        "items-0": "印刷ボタンを押しても何も起きません。",
    }
    data.update(changes)
    return data


def outbox(sessions, kind: str) -> list[OutboxMail]:
    with sessions() as session:
        return list(session.scalars(select(OutboxMail).where(OutboxMail.kind == kind)))


def registry(sessions, row: str) -> None:
    header = "customer_number,company,domains,contact_emails,profile,order_accepted\n"
    parsed = parse_rows((header + row).encode(), "helpdesk", ["helpdesk", "desknet"])
    with sessions.begin() as session:
        import_rows(session, parsed, progress=False)


def test_r1_every_input_has_a_japanese_label(client) -> None:
    page = client.get("/helpdesk/inquiry").text
    for label in ("社名", "氏名", "ドメイン名", "顧客番号", "メールアドレス", "件名"):
        match = re.search(rf'<label for="([^"]+)">{label}', page)
        assert match, label
        assert f'id="{match.group(1)}"' in page
    assert re.search(r'<label for="items-0">お問い合わせ内容 1', page)
    assert 'lang="ja"' in page and 'name="viewport"' in page


def test_r3_add_item_is_a_plain_submit_that_keeps_what_was_typed(client, sessions) -> None:
    page = client.post("/helpdesk/inquiry", data=inquiry(client, action="add_item")).text
    assert '<label for="items-1">お問い合わせ内容 2' in page
    assert "印刷ボタンを押しても何も起きません。" in page and 'value="山田 太郎"' in page
    assert "入力してください" not in page  # adding an item shows no errors yet
    with sessions() as session:
        assert session.scalars(select(RawMessage)).all() == []


def test_r3_r8_r10_two_items_two_incidents_one_acknowledgment(client, sessions) -> None:
    data = inquiry(client, **{"items-1": "FTPで接続できません。", "action": "confirm"})
    confirm = client.post("/helpdesk/inquiry", data=data)
    assert "入力内容の確認" in confirm.text and "FTPで接続できません。" in confirm.text
    with sessions() as session:
        assert session.scalars(select(RawMessage)).all() == []  # nothing stored before 送信
    data["action"] = "send"
    done = client.post("/helpdesk/inquiry", data=data)
    numbers = re.findall(r'incident-number">\[#(\d+)\]', done.text)
    assert len(numbers) == 2
    assert "ただいまより対応いたします" in done.text  # R8: received in business hours
    with sessions() as session:
        raw = session.scalars(select(RawMessage)).one()
        assert (raw.channel, raw.state) == ("web", RawState.PROCESSED)  # R29: stored first
        incidents = session.scalars(select(Incident).order_by(Incident.id)).all()
        assert [i.channel for i in incidents] == ["web", "web"]
        assert [i.category for i in incidents] == ["fault", "fault"]
        assert incidents[0].fields["customer_number"] == "C0123-4567"
    [ack] = outbox(sessions, "ack")
    assert ack.recipients == ["yamada@example.co.jp"]
    body = email.message_from_bytes(ack.data, policy=policy.default).get_content()
    assert all(f"[#{n}]" in body for n in numbers)


def test_r30_errors_in_japanese_next_to_each_field_and_everything_kept(client, sessions) -> None:
    data = inquiry(
        client,
        company="",
        email="yamada@",
        domain="example",
        customer_number="？？",
        action="confirm",
    )
    page = client.post("/helpdesk/inquiry", data=data).text
    assert re.search(r'id="company-error" role="alert">入力してください。', page)
    assert "メールアドレスの形式が正しくありません" in page
    assert "ドメイン名の形式が正しくありません" in page
    assert (
        'aria-describedby="email-error"' in page
        or 'aria-describedby="email-hint email-error"' in page
    )
    assert 'value="yamada@"' in page and "印刷ボタンを押しても何も起きません。" in page
    with sessions() as session:
        assert session.scalars(select(RawMessage)).all() == []


def test_r30_header_injection_never_reaches_a_mail(client, sessions) -> None:
    data = inquiry(client, subject="質問\r\nBcc: victim@example.com", action="confirm")
    page = client.post("/helpdesk/inquiry", data=data).text
    assert "改行や制御文字は使えません。" in page
    for name in ("company", "name", "email"):
        data = inquiry(client, **{name: "x\nBcc: victim@example.com", "action": "send"})
        assert "改行や制御文字" in client.post("/helpdesk/inquiry", data=data).text
    with sessions() as session:
        assert session.scalars(select(OutboxMail)).all() == []


def test_r30_post_without_csrf_token_is_400_and_changes_nothing(client, sessions) -> None:
    data = inquiry(client, action="send")
    del data["csrf_token"]
    answer = client.post("/helpdesk/inquiry", data=data)
    assert answer.status_code == 400 and "送信できませんでした" in answer.text
    with sessions() as session:
        assert session.scalars(select(RawMessage)).all() == []


def test_r30_honeypot_and_rate_limits(client, sessions, config) -> None:
    bot = client.post(
        "/helpdesk/inquiry", data=inquiry(client, website="http://spam", action="send")
    )
    assert bot.status_code == 200
    with sessions() as session:
        assert session.scalars(select(RawMessage)).all() == []  # a bot is told nothing
    limit = config.web.submissions_per_address_per_hour
    for _ in range(limit - 1):  # the bot's one counted too
        assert (
            client.post("/helpdesk/inquiry", data=inquiry(client, action="send")).status_code == 200
        )
    refused = client.post("/helpdesk/inquiry", data=inquiry(client, action="send"))
    assert refused.status_code == 429 and "しばらくしてから" in refused.text
    with sessions() as session:
        assert len(session.scalars(select(RawMessage)).all()) == limit - 1


def test_r2_unknown_customer_number_is_a_field_error_when_a_registry_is_loaded(
    client, sessions
) -> None:
    registry(sessions, "C9999-0001,株式会社ほか,other.co.jp,a@other.co.jp,,\n")
    page = client.post("/helpdesk/inquiry", data=inquiry(client, action="confirm")).text
    assert "この顧客番号はご登録が確認できません" in page


def test_r29_attachments_checked_kept_across_confirmation_and_stored(client, sessions) -> None:
    bad = inquiry(client, action="confirm")
    bad["attachments"] = [(io.BytesIO(b"MZ..."), "tool.exe")]
    page = client.post("/helpdesk/inquiry", data=bad, content_type="multipart/form-data").text
    assert "添付できる形式は" in page
    good = inquiry(client, action="confirm")
    good["attachments"] = [(io.BytesIO(b"2026-11-24 error 530"), "エラー.log")]
    confirm = client.post("/helpdesk/inquiry", data=good, content_type="multipart/form-data")
    assert "エラー.log" in confirm.text
    upload_token = re.search(r'name="upload_token" value="([0-9a-f]+)"', confirm.text).group(1)
    data = inquiry(client, action="send", upload_token=upload_token)
    client.post("/helpdesk/inquiry", data=data)
    with sessions() as session:
        raw = session.scalars(select(RawMessage)).one()
    names = [
        part.get_filename()
        for part in email.message_from_bytes(raw.data, policy=policy.default).walk()
        if part.get_filename()
    ]
    assert "エラー.log" in names


def test_r7_unknown_profile_is_404(client) -> None:
    assert client.get("/nosuch/inquiry").status_code == 404


def test_r14_r15_license_form_shows_the_license_due_time(config, sessions, clock, tmp_path) -> None:
    import dataclasses
    import sys
    from pathlib import Path

    issuer = [
        sys.executable,
        str(Path(__file__).with_name("license_issuer.py")),
        str(tmp_path / "n"),
    ]
    desknet = dataclasses.replace(config.profile("desknet"), license_issuer=issuer)
    config = dataclasses.replace(config, profiles={**config.profiles, "desknet": desknet})
    client = create_app(config, sessions, clock).test_client()
    registry(
        sessions,
        "C0123-4567,株式会社サンプル商事,example.co.jp,it@example.co.jp,desknet,2026-04-10\n",
    )
    clock.at = FRIDAY_LATE
    data = {
        "csrf_token": token(client, "/desknet/license"),
        **FIELDS,
        "product": "desknet's NEO",
        "reason": "server_change",
        "new_server": "neo2.example.co.jp (RHEL 9)",
        "action": "confirm",
    }
    assert "入力内容の確認" in client.post("/desknet/license", data=data).text
    data["action"] = "send"
    done = client.post("/desknet/license", data=data).text
    config = client.application.extensions["uketsuke"].config
    due = license_due(config.profile("desknet").calendar(), FRIDAY_LATE)
    assert due == datetime(2027, 1, 12, 9, 0, tzinfo=TOKYO)
    assert '<strong class="license-due">2027年1月12日(火) 09:00</strong>' in done
    assert "ご登録の連絡先メールアドレス宛" in done
    [key] = outbox(sessions, "license_key")
    assert key.due_at == due and key.recipients == ["it@example.co.jp"]  # R15: contact only


def test_r17_close_link_get_changes_nothing_post_closes_once(client, sessions, config) -> None:
    from intake.answers import act
    from intake.staffcommands import parse_answer

    client.post("/helpdesk/inquiry", data=inquiry(client, action="send"))
    with sessions.begin() as session:
        session.add(StaffUser(email="sato@example.jp", name="佐藤", reply_secret="ab" * 32))
        session.flush()
        incident = session.scalars(select(Incident)).one()
        member = session.scalars(select(StaffUser)).one()
        act(session, config, incident, member, parse_answer("ご確認ください。"), OPEN)
    [answer] = outbox(sessions, "answer")
    text = email.message_from_bytes(answer.data, policy=policy.default).get_content()
    path = re.search(r"http://127\.0\.0\.1:8080(/close/\S+)", text).group(1)
    page = client.get(path)
    assert page.status_code == 200 and "解決したのでクローズする" in page.text
    with sessions() as session:
        assert session.scalars(select(Incident.state)).one() == "answered"  # GET: nothing
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert client.post(path, data={}).status_code == 400  # no CSRF token: nothing
    done = client.post(path, data={"csrf_token": csrf})
    assert done.status_code == 200 and "クローズしました" in done.text
    with sessions() as session:
        assert session.scalars(select(Incident.state)).one() == "closed"
    assert len(outbox(sessions, "closed")) == 1
    again = client.post(path, data={"csrf_token": csrf})
    assert again.status_code == 410 and len(outbox(sessions, "closed")) == 1


def test_r26_session_cookie_is_httponly_and_samesite(client) -> None:
    client.get("/helpdesk/inquiry")
    cookie = client.get_cookie("uketsuke_session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert not cookie.secure  # served over plain http on loopback


def test_healthz_answers_200_with_the_database_and_503_without(config, tmp_path) -> None:
    from intake import db
    from tests.daemon import free_port

    nobody = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test?connect_timeout=2"
    broken = db.session_factory(db.make_engine(nobody))
    app = create_app(config, broken)
    assert app.test_client().get("/healthz").status_code == 503


def test_r30_a_file_chosen_before_adding_an_item_is_kept(client) -> None:
    data = inquiry(client, action="add_item")
    data["attachments"] = [(io.BytesIO(b"trace"), "a.txt")]
    page = client.post("/helpdesk/inquiry", data=data, content_type="multipart/form-data").text
    assert "添付済み: a.txt" in page and '<label for="items-1">' in page
    upload_token = re.search(r'name="upload_token" value="([0-9a-f]+)"', page).group(1)
    confirm = client.post(
        "/helpdesk/inquiry", data=inquiry(client, action="confirm", upload_token=upload_token)
    )
    assert "a.txt" in confirm.text
