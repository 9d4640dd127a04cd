"""The staff dashboard `/staff/` through Flask's test client, on real SQLite/PostgreSQL (R26: a
login, and every view and action audited), acting through the code a mailed staff answer runs
(R17, R18, R20), and its command line: `staff passwd`, `audit list`."""

from __future__ import annotations

import email
import json
import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy import select, update
from werkzeug.security import generate_password_hash

from intake import db
from intake.config import load_config
from intake.customers import import_rows, parse_rows
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
from intake.reports import consumption_rows, month_range
from intake.store import store_raw
from intake.web import create_app, search
from scheduler.calendar import TOKYO
from scheduler.clock import FixedClock as Clock
from scheduler.service import make_dispatcher
from tests.conftest import Cli
from tests.mailmaker import FIELDS_BLOCK, make_mail

OPEN = datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)
STAFF = "sato@example.jp"
PASSWORD = "correct horse battery"
REGISTRY = (
    "customer_number,company,domains,contact_emails,profile,order_accepted,incident_quota\n"
    "C0123-4567,株式会社サンプル商事,example.co.jp,it@example.co.jp,helpdesk,2026-01-15,10\n"
)
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')




@pytest.fixture
def config(tmp_path):
    return load_config(None, env={"UKETSUKE_HOME": str(tmp_path / "home")})


def furnish(sessions, profiles: list[str] | None = None) -> None:
    """The registry (one customer with a support period and a quota) and one staff account."""
    parsed = parse_rows(REGISTRY.encode(), "helpdesk", ["helpdesk", "desknet"])
    with sessions.begin() as session:
        import_rows(session, parsed, progress=False)
        session.add(
            StaffUser(
                email=STAFF,
                name="佐藤 花子",
                reply_secret="ab" * 32,
                profiles=profiles or [],
                password_hash=generate_password_hash(PASSWORD, method="scrypt"),
            )
        )


@pytest.fixture
def desk(sessions):
    furnish(sessions)
    return sessions


@pytest.fixture
def client(config, desk):
    return create_app(config, desk, Clock(OPEN)).test_client()


@pytest.fixture
def staff(client):
    """A client logged in as the staff member."""
    assert login(client).status_code == 303
    return client


def token(client, path: str = "/staff/login") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return TOKEN.search(page.text).group(1)


def login(client, email_address: str = STAFF, password: str = PASSWORD, **environ):
    data = {"csrf_token": token(client), "email": email_address, "password": password}
    return client.post("/staff/login", data=data, environ_base=environ)


def post(client, path: str, **data: str):
    page = path.rsplit("/", 1)[0] if "/incidents/" in path else "/staff/"
    return client.post(path, data={"csrf_token": token(client, page), **data})


def receive(config, sessions, text: str, subject: str = "お問い合わせ", data: bytes | None = None):
    """A customer's mail through the daemon's pipeline; the incident numbers it made."""
    raw = data or make_mail(FIELDS_BLOCK + "\n" + text + "\n", subject=subject)
    stored = store_raw(sessions, raw, channel="smtp", profile="helpdesk")
    with sessions.begin() as session:
        session.get(RawMessage, stored.id).received_at = OPEN
    assert Pipeline(config, sessions).process(stored.id, OPEN) == RawState.PROCESSED
    with sessions() as session:
        return list(
            session.scalars(
                select(IncidentMessage.incident_id)
                .where(IncidentMessage.raw_message_id == stored.id)
                .order_by(IncidentMessage.incident_id)
            )
        )


def audits(sessions, action: str) -> list[AuditEntry]:
    with sessions() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(session.scalars(query))


def outbox(sessions, kind: str) -> list[OutboxMail]:
    with sessions() as session:
        return list(session.scalars(select(OutboxMail).where(OutboxMail.kind == kind)))


def numbers(page) -> list[int]:
    return [int(n) for n in re.findall(r'href="/staff/incidents/(\d+)">#', page.text)]


# --- login (R26) ---------------------------------------------------------------------------------


GET_PAGES = [
    "/staff/",
    "/staff/?q=%E5%8D%B0%E5%88%B7",
    "/staff/incidents/1",
    "/staff/held",
    "/staff/customers",
    "/staff/customers/1",
    "/staff/reports?month=2026-11",
    "/staff/attachments/1/0",
]
POST_PAGES = [
    "/staff/logout",
    "/staff/held/1/reprocess",
    *(
        f"/staff/incidents/1/{action}"
        for action in (
            "answer",
            "note",
            "close",
            "split",
            "merge",
            "category",
            "cause",
            "time",
            "hold",
            "release",
        )
    ),
]


def test_r26_every_staff_page_needs_a_login(config, client, desk) -> None:
    [number] = receive(config, desk, "印刷できません。")
    for path in GET_PAGES:
        page = client.get(path)
        assert page.status_code == 302, path
        assert page.headers["Location"].startswith("/staff/login?next=/staff/"), path
    csrf = token(client)
    for path in POST_PAGES:
        page = client.post(path, data={"csrf_token": csrf, "text": "回答", "category": "setup"})
        assert (page.status_code, page.headers["Location"]) == (302, "/staff/login"), path
    with desk() as session:
        incident = session.get(Incident, number)
        assert (incident.state, incident.category) == ("open", "fault")
    assert outbox(desk, "answer") == [] and outbox(desk, "closed") == []
    login_page = client.get("/staff/login")
    assert '<label for="email">メールアドレス</label>' in login_page.text
    assert '<label for="password">パスワード</label>' in login_page.text


def test_r26_login_lists_incidents_with_an_httponly_lax_session_that_idles_out(
    config, client, desk
) -> None:
    receive(config, desk, "印刷できません。")
    before = datetime.now(UTC)
    answer = login(client)
    assert (answer.status_code, answer.headers["Location"]) == (303, "/staff/")
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("uketsuke_session=") and "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie and "Secure" not in cookie  # the public URL is http here
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
    assert timedelta(minutes=29) < expires - before <= timedelta(minutes=31)  # 30 idle minutes
    listing = client.get("/staff/")
    assert listing.status_code == 200 and numbers(listing) == [1]
    assert "uketsuke_session=" in listing.headers["Set-Cookie"]  # each request renews it
    assert listing.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in listing.headers["Content-Security-Policy"]
    [entry] = audits(desk, "login")
    assert (entry.actor, entry.target) == (STAFF, f"staff:{STAFF}")
    next_page = client.get("/staff/login?next=/staff/held")
    assert next_page.status_code == 302  # logged in already: the login page is not shown


def test_r26_r30_wrong_passwords_are_refused_then_rate_limited(client, desk) -> None:
    for attempt in range(4):
        page = login(client, password=f"wrong password {attempt}")
        assert page.status_code == 200
        assert "メールアドレスまたはパスワードが正しくありません。" in page.text
        assert f'value="{STAFF}"' in page.text  # what was typed is kept (R30)
    fifth = login(client, password="wrong password 4")
    assert fifth.status_code == 429 and "1分ほど待って" in fifth.text  # then doubling, to 15
    assert login(client).status_code == 429  # this address from this client: even the right one
    assert client.get("/staff/").status_code == 302
    failures = audits(desk, "login_failed")
    assert [f.detail["reason"] for f in failures] == ["wrong_password"] * 5 + ["rate_limited"]
    assert all(
        PASSWORD not in json.dumps(f.detail) and "password" not in f.detail for f in failures
    )
    # Issue 15: a guesser elsewhere never locks the member out: the right password from another
    # client address works (the lock is per address and client address).
    assert login(client, REMOTE_ADDR="192.0.2.9").status_code == 303


def test_r26_r30_failures_on_other_accounts_never_refuse_a_right_password(client) -> None:
    """Issue 15: five failures for other addresses from one client address (an office behind
    one NAT) do not refuse a member's right password from there; a sweep across many accounts
    is stopped by the coarse per-client limit instead (tests/test_web_hardening.py)."""
    for attempt in range(5):
        login(client, f"guess{attempt}@example.jp", "whatever", REMOTE_ADDR="198.51.100.7")
    assert login(client, REMOTE_ADDR="198.51.100.7").status_code == 303


def test_r26_a_success_clears_the_address_count(client) -> None:
    for attempt in range(4):
        login(client, password=f"wrong {attempt}", REMOTE_ADDR="192.0.2.1")
    assert login(client, REMOTE_ADDR="192.0.2.1").status_code == 303
    client = client.application.test_client()  # logged out; the counts are the app's
    for attempt in range(4):
        assert (
            login(client, password=f"wrong {attempt}", REMOTE_ADDR="192.0.2.2").status_code == 200
        )


def test_r26_inactive_and_passwordless_accounts_cannot_log_in(client, desk) -> None:
    with desk.begin() as session:
        session.execute(update(StaffUser).values(active=False))
    assert login(client).status_code == 200 and client.get("/staff/").status_code == 302
    with desk.begin() as session:
        session.execute(update(StaffUser).values(active=True, password_hash=None))
    assert login(client).status_code == 200 and client.get("/staff/").status_code == 302
    reasons = [f.detail["reason"] for f in audits(desk, "login_failed")]
    assert reasons == ["inactive", "no_password"]


def test_r26_logout_and_a_new_password_end_the_session(staff, desk) -> None:
    assert staff.get("/staff/").status_code == 200
    out = post(staff, "/staff/logout")
    assert (out.status_code, out.headers["Location"]) == (303, "/staff/login")
    assert staff.get("/staff/").status_code == 302
    assert [e.actor for e in audits(desk, "logout")] == [STAFF]
    assert login(staff).status_code == 303
    with desk.begin() as session:
        session.execute(
            update(StaffUser).values(password_hash=generate_password_hash("another password 1"))
        )
    assert staff.get("/staff/").status_code == 302


def test_r26_a_member_sees_only_the_profiles_they_work_for(config, sessions) -> None:
    furnish(sessions, profiles=["desknet"])
    [number] = receive(config, sessions, "印刷できません。")
    client = create_app(config, sessions, Clock(OPEN)).test_client()
    assert login(client).status_code == 303
    assert numbers(client.get("/staff/")) == []
    assert client.get(f"/staff/incidents/{number}").status_code == 403
    csrf = token(client, "/staff/")
    answer = client.post(
        f"/staff/incidents/{number}/answer", data={"csrf_token": csrf, "text": "x"}
    )
    assert answer.status_code == 403 and outbox(sessions, "answer") == []


# --- the list: filters, search, pages --------------------------------------------------------


@pytest.fixture(params=["migrated", "models"])
def searchable(request, database_url, config):
    """A database made by the migrations (with the trigram index of 0008) or by the models alone
    (no index: every term takes the LIKE path); the answers must be the same."""
    engine = db.make_engine(database_url)
    if request.param == "migrated":
        db.upgrade(engine)
    else:
        from intake.models import Base

        Base.metadata.create_all(engine)
    sessions = db.session_factory(engine)
    furnish(sessions)
    yield sessions
    engine.dispose()


@pytest.mark.parametrize("window", [search.WINDOW, 1])
def test_r26_list_finds_japanese_substrings_numbers_and_customers(
    config, searchable, window, monkeypatch
) -> None:
    """The same answers from the newest window's row-by-row test and from the index step after
    it (a window of one incident leaves all but the newest to the index)."""
    monkeypatch.setattr(search, "WINDOW", window)
    sessions = searchable
    [printing] = receive(config, sessions, "プリンタで印刷できません。", subject="プリンタ故障")
    [login_fault] = receive(config, sessions, "管理画面にログインできません。")
    [mail] = receive(config, sessions, "メールが届きません。Outlook を使っています。")
    client = create_app(config, sessions, Clock(OPEN)).test_client()
    assert login(client).status_code == 303

    def found(**query: str) -> list[int]:
        page = client.get("/staff/", query_string=query)
        assert page.status_code == 200
        return numbers(page)

    assert found() == [mail, login_fault, printing]
    assert found(q="印刷") == [printing]  # two characters find a longer word
    assert found(q="刷で") == [printing]  # any substring, across words
    assert found(q="故障") == [printing]  # at the very end of the subject
    assert found(q="鳥獣") == [] and found(q="鳥") == []
    assert found(q="ログイン") == [login_fault]
    assert found(q="outlook") == [mail]  # ASCII case does not matter
    assert found(q="ログイン できません") == [login_fault]  # every term must match
    assert found(q="届き　Outlook") == [mail]  # a full-width space separates terms too
    assert found(q=f"#{login_fault}") == [login_fault]
    assert found(q=f"＃{login_fault}") == [login_fault]
    assert found(q="C0123-4567") == [mail, login_fault, printing]
    assert found(q="サンプル商事") == [mail, login_fault, printing]
    assert found(q="受付のお知らせ") == []  # the system's own placeholders are not searched
    assert found(q="100%") == [] and found(q="_") == []  # LIKE wildcards are plain text
    assert found(customer="C0123-4567") == [mail, login_fault, printing]
    assert found(customer="C9999") == []
    assert found(profile="helpdesk", category="fault", state="open") == [
        mail,
        login_fault,
        printing,
    ]
    with sessions.begin() as session:
        session.get(Incident, mail).category = "out_of_scope"
        session.get(Incident, mail).flags = ["out_of_scope"]
        session.get(Incident, printing).state = "closed"
        session.add(
            TimedAction(kind="auto_close", due_at=OPEN + timedelta(days=5), incident_id=login_fault)
        )
        session.add(
            IncidentMessage(
                incident_id=login_fault, direction="out", author=STAFF, body="キャッシュを消去"
            )
        )
    assert found(state="closed") == [printing]
    assert found(flag="out_of_scope") == [mail]
    assert found(due="auto_close") == [login_fault]
    assert "11月29日（日）10:30" in client.get("/staff/?due=auto_close").text
    assert found(q="キャッシュ") == [
        login_fault
    ]  # a staff answer in the thread (index kept in step)
    assert found(state="bogus") == [mail, login_fault, printing]  # unknown values are ignored


def test_r26_list_pages_by_number_newest_first(config, sessions) -> None:
    furnish(sessions)
    with sessions.begin() as session:
        for n in range(1, 61):
            session.add(
                Incident(profile="helpdesk", channel="smtp", subject=f"件名{n}", created_at=OPEN)
            )
    client = create_app(config, sessions, Clock(OPEN)).test_client()
    assert login(client).status_code == 303
    first = client.get("/staff/?state=open")
    assert numbers(first) == list(range(60, 10, -1))
    older = re.search(r'href="([^"]+)" rel="next"', first.text).group(1).replace("&amp;", "&")
    assert older == "/staff/?state=open&before=11"
    second = client.get(older)
    assert numbers(second) == list(range(10, 0, -1))
    assert 'rel="next"' not in second.text
    newer = re.search(r'href="([^"]+)" rel="prev"', second.text).group(1).replace("&amp;", "&")
    assert numbers(client.get(newer)) == list(range(60, 10, -1))
    assert audits(sessions, "view_list")[-1].detail == {"state": "open", "after": 10}


# --- the incident page and its actions ------------------------------------------------------------


def test_r26_incident_page_shows_everything_and_is_audited(config, staff, desk) -> None:
    [number] = receive(config, desk, "印刷できません。<script>alert(1)</script>")
    page = staff.get(f"/staff/incidents/{number}")
    assert page.status_code == 200
    for shown in (
        "[#1]",
        "対応待ち",
        "ヘルプデスク・サポートサービス",
        "不具合・障害",
        "C0123-4567",
        "株式会社サンプル商事",
        "it@example.co.jp",
        "yamada@example.co.jp",
        "山田 太郎",
        "受信",
        "11月24日（火）10:30",
    ):
        assert shown in page.text, shown
    assert "<script>alert(1)</script>" not in page.text  # mail text is never markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    for form_field in (
        "answer-text",
        "note-text",
        "set-category",
        "set-cause",
        "add-time",
        "split-text",
        "merge-target",
    ):
        assert f'<label for="{form_field}">' in page.text and f'id="{form_field}"' in page.text
    [entry] = audits(desk, "view_incident")
    assert (entry.actor, entry.target) == (STAFF, f"incident:{number}")
    assert staff.get("/staff/incidents/999").status_code == 404


def test_r20_r10_r18_an_answer_is_mailed_like_a_mailed_answer(config, staff, desk) -> None:
    [number] = receive(config, desk, "印刷できません。")
    sent = post(
        staff, f"/staff/incidents/{number}/answer", text="#time 30m\nドライバを更新してください。"
    )
    assert (sent.status_code, sent.headers["Location"]) == (303, f"/staff/incidents/{number}")
    [mail] = outbox(desk, "answer")
    message = email.message_from_bytes(mail.data, policy=policy.default)
    with desk() as session:
        incident = session.get(Incident, number)
        assert mail.recipients == [incident.reply_address] and f"[#{number}]" in message["Subject"]
        assert (incident.state, incident.minutes_worked) == ("answered", 30)
        assert mail.due_at == OPEN + timedelta(seconds=60)  # the hold before sending
    make_dispatcher(config, desk).run_once(OPEN + timedelta(seconds=60))
    with desk() as session:
        [timer] = session.scalars(select(TimedAction).where(TimedAction.kind == "auto_close"))
        assert timer.due_at == OPEN + timedelta(seconds=60, hours=120)  # R18, from sending
    body = message.get_content()
    assert "ドライバを更新してください。" in body and "#time" not in body and STAFF not in body
    assert [e.actor for e in audits(desk, "staff_answer")] == [STAFF]
    page = staff.get(f"/staff/incidents/{number}")
    # Held before it goes (answer_hold_seconds, 60 by default): the page says so.
    assert "回答を送信待ちにしました（60秒後に送信されます。" in page.text
    assert "作業時間 30分 を追加しました" in page.text


def test_r20_a_bad_command_sends_nothing_and_keeps_the_text(config, staff, desk) -> None:
    [number] = receive(config, desk, "印刷できません。")
    refused = post(staff, f"/staff/incidents/{number}/answer", text="#urgent\n本文はこちら")
    assert refused.status_code == 400 and "何も送信していません" in refused.text
    assert "#urgent\n本文はこちら</textarea>" in refused.text  # R30: kept
    assert outbox(desk, "answer") == []
    assert [e.detail for e in audits(desk, "staff_action_refused")] == [{"action": "answer"}]


def test_r20_a_note_is_internal(config, staff, desk) -> None:
    [number] = receive(config, desk, "印刷できません。")
    assert (
        post(staff, f"/staff/incidents/{number}/note", text="ドライバ版数を確認中").status_code
        == 303
    )
    assert outbox(desk, "answer") == []
    with desk() as session:
        [note] = session.scalars(select(IncidentMessage).where(IncidentMessage.direction == "note"))
        assert (note.body, note.author) == ("ドライバ版数を確認中", STAFF)
    assert "内部メモ" in staff.get(f"/staff/incidents/{number}").text
    assert [e.actor for e in audits(desk, "staff_note")] == [STAFF]


def test_r17_close_tells_the_customer_once(config, staff, desk) -> None:
    [number] = receive(config, desk, "印刷できません。")
    assert post(staff, f"/staff/incidents/{number}/close").status_code == 303
    again = post(staff, f"/staff/incidents/{number}/close")
    assert again.status_code == 400 and "既に完了しています" in again.text
    with desk() as session:
        assert session.get(Incident, number).state == "closed"
    assert len(outbox(desk, "closed")) == 1
    assert [e.actor for e in audits(desk, "close")] == [STAFF]


def test_r20_r23_category_cause_and_time(config, staff, desk) -> None:
    [number] = receive(config, desk, "印刷できません。")
    base = f"/staff/incidents/{number}"
    assert post(staff, f"{base}/category", category="out_of_scope").status_code == 303
    assert post(staff, f"{base}/cause", cause="customer").status_code == 303
    assert post(staff, f"{base}/time", time="1時間30分").status_code == 303
    assert post(staff, f"{base}/time", time="soon").status_code == 400
    assert post(staff, f"{base}/category", category="bogus").status_code == 400
    with desk() as session:
        incident = session.get(Incident, number)
        assert (incident.category, incident.cause, incident.minutes_worked) == (
            "out_of_scope",
            "customer",
            90,
        )
        assert "out_of_scope" in incident.flags  # R5, as #category sets it
    assert len(audits(desk, "staff_update")) == 3
    assert outbox(desk, "answer") == []


def test_r3_r4_split_and_merge_and_counts_follow(config, staff, desk) -> None:
    [first] = receive(config, desk, "印刷できません。")
    split = post(staff, f"/staff/incidents/{first}/split", text="FTPで接続できません。")
    assert split.status_code == 303
    with desk() as session:
        new = session.scalars(select(Incident).where(Incident.linked_incident_id == first)).one()
        assert new.customer_id is not None and new.contract_id is not None  # R4: consumed
        november = consumption_rows(session, *month_range("2026-11"))
    assert [row[6:8] for row in november] == [[2, 2]]  # the split counts (dated by the clock)
    assert len(outbox(desk, "ack")) == 2  # the customer is told of the new incident

    merged = post(staff, f"/staff/incidents/{new.id}/merge", target=f"#{first}")
    assert merged.status_code == 303
    with desk() as session:
        source, target = session.get(Incident, new.id), session.get(Incident, first)
        assert (source.state, source.linked_incident_id, source.contract_id) == (
            "closed",
            first,
            None,
        )
        assert "merged" in source.flags and target.state == "open"
        moved = session.scalars(
            select(IncidentMessage.body).where(IncidentMessage.incident_id == first)
        ).all()
        assert "FTPで接続できません。" in moved
        november = consumption_rows(session, *month_range("2026-11"))
    assert [row[6:8] for row in november] == [[1, 1]]  # the merged one no longer counts
    assert outbox(desk, "closed") == []  # a merge tells the customer nothing
    assert [e.detail["into"] for e in audits(desk, "merge")] == [first]
    again = post(staff, f"/staff/incidents/{new.id}/merge", target=str(first))
    assert again.status_code == 400 and "既に" in again.text
    assert post(staff, f"/staff/incidents/{first}/merge", target="999").status_code == 400


def key_mail(number: int) -> OutboxMail:
    """A license-key mail of the incident, scheduled an hour ahead (R14)."""
    return OutboxMail(
        kind="license_key",
        profile="helpdesk",
        incident_id=number,
        message_id="<key.1@example.jp>",
        recipients=["it@example.co.jp"],
        data=b"Subject: key\r\n\r\n",
        due_at=OPEN + timedelta(hours=1),
    )


def test_r15_r16_hold_and_release_a_scheduled_key_mail(config, staff, desk) -> None:
    [number] = receive(config, desk, "印刷できません。")
    with desk.begin() as session:
        key = key_mail(number)
        session.add(key)
    page = staff.get(f"/staff/incidents/{number}").text
    assert f'"送付メール" class="num">{key.id}<' in page and "保留する" in page
    base = f"/staff/incidents/{number}"
    assert post(staff, f"{base}/hold", outbox=str(key.id)).status_code == 303
    assert post(staff, f"{base}/hold", outbox=str(key.id)).status_code == 400
    with desk() as session:
        assert session.get(OutboxMail, key.id).state == "held"
    assert "保留を解除" in staff.get(base).text
    assert post(staff, f"{base}/release", outbox=str(key.id)).status_code == 303
    with desk() as session:
        assert session.get(OutboxMail, key.id).state == "pending"
    assert [e.target for e in audits(desk, "outbox_hold")] == [f"outbox:{key.id}"]
    assert [e.actor for e in audits(desk, "outbox_release")] == [STAFF]


def test_r26_attachments_download_never_inline(config, staff, desk) -> None:
    mail = EmailMessage()
    mail["From"] = "yamada@example.co.jp"
    mail["To"] = "support@example.jp"
    mail["Subject"] = "ログ添付"
    mail["Message-ID"] = "<att.1@example.co.jp>"
    mail.set_content(FIELDS_BLOCK + "\n印刷できません。ログを添付します。\n")
    markup = b"<html><script>alert(1)</script></html>"
    mail.add_attachment(markup, maintype="text", subtype="html", filename="ログ.html")
    [number] = receive(config, desk, "", data=mail.as_bytes(policy=policy.SMTP))
    page = staff.get(f"/staff/incidents/{number}").text
    link = re.search(r'href="(/staff/attachments/\d+/0)" download>ログ.html</a>', page).group(1)
    download = staff.get(link)
    assert download.status_code == 200 and download.data == markup
    assert download.headers["Content-Type"] == "application/octet-stream"
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "%E3%83%AD%E3%82%B0.html" in disposition
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert staff.get(link[:-1] + "5").status_code == 404
    [entry] = audits(desk, "download_attachment")
    assert (entry.actor, entry.detail) == (STAFF, {"index": 0})


def test_r30_a_post_without_csrf_token_is_refused_and_changes_nothing(config, staff, desk) -> None:
    [number] = receive(config, desk, "印刷できません。")
    for action, data in (
        ("answer", {"text": "回答"}),
        ("close", {}),
        ("category", {"category": "setup"}),
    ):
        refused = staff.post(f"/staff/incidents/{number}/{action}", data=data)
        assert refused.status_code == 400 and "送信できませんでした" in refused.text
    bad_token = staff.post(f"/staff/incidents/{number}/close", data={"csrf_token": "forged"})
    assert bad_token.status_code == 400
    with desk() as session:
        incident = session.get(Incident, number)
        assert (incident.state, incident.category) == ("open", "fault")
    assert outbox(desk, "answer") == [] and outbox(desk, "closed") == []


# --- held mail, customers, reports ------------------------------------------------------------


def test_r29_held_page_reprocesses_a_message(config, staff, desk) -> None:
    stored = store_raw(
        desk, make_mail(FIELDS_BLOCK + "\n印刷できません。\n"), channel="smtp", profile="helpdesk"
    )
    with desk.begin() as session:
        raw = session.get(RawMessage, stored.id)
        raw.state, raw.last_error = RawState.UNPROCESSABLE, "ValueError: a bug since fixed"
    page = staff.get("/staff/held")
    assert page.status_code == 200 and "ValueError: a bug since fixed" in page.text
    assert "再処理" in page.text and "お問い合わせ" in page.text  # its subject
    done = staff.post(
        f"/staff/held/{stored.id}/reprocess", data={"csrf_token": TOKEN.search(page.text).group(1)}
    )
    assert (done.status_code, done.headers["Location"]) == (303, "/staff/held")
    with desk() as session:
        assert session.get(RawMessage, stored.id).state == RawState.PROCESSED
        assert session.scalars(select(Incident.id)).all() == [1]
    assert "再処理しました" in staff.get("/staff/held").text
    [entry] = audits(desk, "reprocess")
    assert (entry.actor, entry.target, entry.detail) == (
        STAFF,
        f"raw:{stored.id}",
        {"state": "processed"},
    )


def test_r4_customers_page_lists_periods_and_consumption(config, staff, desk) -> None:
    receive(config, desk, "印刷できません。")
    listing = staff.get("/staff/customers?q=サンプル")
    assert listing.status_code == 200 and "C0123-4567" in listing.text
    assert "C0123-4567" not in staff.get("/staff/customers?q=存在しない").text
    link = re.search(r'href="(/staff/customers/\d+)"', listing.text).group(1)
    detail = staff.get(link)
    assert detail.status_code == 200 and "it@example.co.jp" in detail.text
    assert re.search(r'data-label="上限" class="right">10<', detail.text)
    assert re.search(r'data-label="消費" class="right">1<', detail.text)
    assert re.search(r'data-label="残り" class="right">9<', detail.text)
    assert [e.target for e in audits(desk, "view_customer")] == ["customer:C0123-4567"]


def test_r4_r23_reports_page_has_tables_and_an_svg_chart(config, staff, desk) -> None:
    receive(config, desk, "印刷できません。")
    page = staff.get("/staff/reports?month=2026-11")
    assert page.status_code == 200
    assert "<svg" in page.text and "2026年11月 日別の受付件数" in page.text
    assert "不具合・障害" in page.text and "C0123-4567" in page.text
    assert "合計 1件" in page.text
    bad = staff.get("/staff/reports?month=2026-13")
    assert bad.status_code == 400 and "年と月で指定してください" in bad.text
    assert [e.detail for e in audits(desk, "view_reports")] == [{"month": "2026-11"}]


# --- the command line --------------------------------------------------------------------------


def test_r26_staff_passwd_from_stdin_and_audit_list(cli: Cli, database_url: str) -> None:
    cli.migrated()
    assert cli("staff", "add", "佐藤 花子", STAFF).returncode == 0
    done = cli("staff", "passwd", STAFF, input=f"{PASSWORD}\n".encode())
    assert (done.returncode, done.stdout, done.stderr) == (0, f"password set for {STAFF}\n", "")
    short = cli("staff", "passwd", STAFF, input=b"short\n")
    assert (
        short.returncode == 2 and short.stderr.count("\n") == 1 and "10 characters" in short.stderr
    )
    unknown = cli("staff", "passwd", "nobody@example.jp", input=f"{PASSWORD}\n".encode())
    assert unknown.returncode == 2 and unknown.stderr.startswith("uketsuke: no staff nobody@")
    engine = db.make_engine(database_url)
    with db.session_factory(engine)() as session:
        stored = session.scalars(select(StaffUser.password_hash)).one()
    engine.dispose()
    assert stored.startswith("scrypt:") and PASSWORD not in stored

    listing = cli("audit", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    entries = [json.loads(line) for line in listing.stdout.splitlines()]
    assert [list(e) for e in entries] == [["id", "at", "actor", "action", "target", "detail"]] * 2
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        ("cli", "staff_add", f"staff:{STAFF}"),
        ("cli", "staff_passwd", f"staff:{STAFF}"),
    ]
    assert entries[0]["at"].endswith("+09:00") and entries[0]["id"] < entries[1]["id"]
    newest = cli("audit", "list", "--json", "--limit", "1")
    assert [json.loads(line)["action"] for line in newest.stdout.splitlines()] == ["staff_passwd"]
    only = cli("audit", "list", "--action", "staff_add", "--actor", "CLI")
    assert re.fullmatch(r"\S+\+09:00 cli staff_add staff:sato@example\.jp\n", only.stdout)
    assert cli("audit", "list", "--limit", "0").returncode == 2
