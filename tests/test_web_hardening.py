"""Findings of the security test of issue 15 on the web doors: dashboard sessions end on the
server (logout, ``staff passwd``, ``staff remove``), login throttling per address and client
address, uploads stored only for a valid inquiry within a cap, and attachment names with
bidirectional controls shown neutralised (R26, R29, R30)."""

from __future__ import annotations

import dataclasses
import io
import logging
import re
from email import policy
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from intake import db
from intake.config import load_config
from intake.models import StaffUser
from intake.web import create_app, limits, uploads
from tests.conftest import Cli
from tests.mailmaker import FIELDS_BLOCK
from tests.test_web_form import inquiry
from tests.test_web_staff import OPEN, PASSWORD, STAFF, Clock, audits, furnish, login, post, receive


@pytest.fixture
def config(tmp_path):
    return load_config(None, env={"UKETSUKE_HOME": str(tmp_path / "home")})


@pytest.fixture
def desk(sessions):
    furnish(sessions)
    return sessions


@pytest.fixture
def client(config, desk):
    return create_app(config, desk, Clock(OPEN)).test_client()


@pytest.fixture
def staff(client):
    assert login(client).status_code == 303
    return client


COOKIE = "uketsuke_session"


def copied_cookie(browser) -> str:
    return browser.get_cookie(COOKIE).value


def with_cookie(app, value: str):
    """A second browser holding a copy of a session cookie."""
    other = app.test_client()
    other.set_cookie(COOKIE, value)
    return other


# --- (3) sessions end on the server -----------------------------------------------------------


def test_r26_logout_ends_a_copied_session_cookie(staff, desk) -> None:
    copy = copied_cookie(staff)
    thief = with_cookie(staff.application, copy)
    assert thief.get("/staff/").status_code == 200
    out = post(staff, "/staff/logout")
    assert (out.status_code, out.headers["Location"]) == (303, "/staff/login")
    assert thief.get("/staff/").status_code == 302
    assert staff.get("/staff/").status_code == 302
    assert login(staff).status_code == 303  # a new login works, and the old copy stays dead
    assert staff.get("/staff/").status_code == 200
    assert thief.get("/staff/").status_code == 302


def test_r26_staff_passwd_and_remove_end_every_session(cli: Cli, database_url, config) -> None:
    cli.migrated()
    engine = db.make_engine(database_url)
    try:
        sessions = db.session_factory(engine)
        furnish(sessions)
        app = create_app(config, sessions, Clock(OPEN))
        browser = app.test_client()
        assert login(browser).status_code == 303
        copy = with_cookie(app, copied_cookie(browser))
        assert copy.get("/staff/").status_code == 200
        with sessions() as session:
            before = session.scalars(select(StaffUser.session_generation)).one()
        # The same password again: still a new hash and a new generation.
        done = cli("staff", "passwd", STAFF, input=f"{PASSWORD}\n".encode())
        assert done.returncode == 0, done.stderr
        with sessions() as session:
            assert session.scalars(select(StaffUser.session_generation)).one() == before + 1
        assert copy.get("/staff/").status_code == 302
        assert browser.get("/staff/").status_code == 302
        assert login(browser).status_code == 303
        copy = with_cookie(app, copied_cookie(browser))
        assert cli("staff", "remove", STAFF).returncode == 0
        assert copy.get("/staff/").status_code == 302
        assert browser.get("/staff/").status_code == 302
        # Added again under the same address (and perhaps the same id): the old cookie is dead.
        furnish(sessions)
        assert copy.get("/staff/").status_code == 302
    finally:
        engine.dispose()


# --- (10) login throttling per (address, client address) pair ---------------------------------


class Monotonic:
    """The throttles' clock, moved by the test."""

    def __init__(self) -> None:
        self.at = 1000.0

    def monotonic(self) -> float:
        return self.at


@pytest.fixture
def ticks(monkeypatch) -> Monotonic:
    clock = Monotonic()
    monkeypatch.setattr(limits, "time", clock)
    return clock


def test_r30_failures_from_one_client_address_never_lock_out_another_member(client) -> None:
    for attempt in range(10):
        page = login(client, f"guess{attempt}@example.jp", "whatever", REMOTE_ADDR="198.51.100.7")
        assert page.status_code == 200
    assert login(client, REMOTE_ADDR="198.51.100.7").status_code == 303


def test_r30_failures_for_an_address_do_not_lock_it_out_elsewhere(client, desk) -> None:
    for attempt in range(5):
        login(client, password=f"wrong {attempt}", REMOTE_ADDR="203.0.113.5")
    assert login(client, REMOTE_ADDR="203.0.113.5").status_code == 429
    assert login(client, REMOTE_ADDR="192.0.2.44").status_code == 303


def test_r30_the_pair_lock_backs_off_and_says_how_long(client, ticks) -> None:
    ip = {"REMOTE_ADDR": "203.0.113.5"}
    for attempt in range(4):
        assert login(client, password=f"wrong {attempt}", **ip).status_code == 200
    fifth = login(client, password="wrong 4", **ip)
    assert fifth.status_code == 429
    assert "ログインの失敗が続いたため、しばらくログインできません。1分ほど待ってから" in fifth.text
    assert login(client, **ip).status_code == 429  # locked: not even the right password
    ticks.at += 61
    sixth = login(client, password="wrong 5", **ip)
    assert sixth.status_code == 429 and "2分ほど待って" in sixth.text
    ticks.at += 61
    assert login(client, **ip).status_code == 429
    ticks.at += 60
    assert login(client, **ip).status_code == 303


def test_r30_a_coarse_limit_per_client_address_stops_a_sweep(client, ticks) -> None:
    office = {"REMOTE_ADDR": "198.51.100.50"}
    for attempt in range(49):
        login(client, f"user{attempt}@example.jp", "whatever", **office)
    assert login(client, **office).status_code == 303  # 49 failures behind one NAT: still in
    other = client.application.test_client()
    last = login(other, "user49@example.jp", "whatever", **office)
    assert last.status_code == 429
    assert "このネットワークからのログインの失敗が多いため" in last.text
    assert login(other, **office).status_code == 429
    assert login(other, REMOTE_ADDR="198.51.100.51").status_code == 303
    ticks.at += 15 * 60 + 1
    assert login(other.application.test_client(), **office).status_code == 303


def test_r26_a_lock_out_is_logged_and_audited_once(client, desk, caplog) -> None:
    caplog.set_level(logging.INFO, logger="uketsuke")
    for attempt in range(5):
        login(client, password=f"wrong {attempt}", REMOTE_ADDR="203.0.113.5")
    for _ in range(10):
        assert login(client, REMOTE_ADDR="203.0.113.5").status_code == 429
    locked = [r for r in caplog.records if "locked" in r.getMessage()]
    assert len(locked) == 1 and locked[0].levelno == logging.WARNING
    assert STAFF in locked[0].getMessage() and PASSWORD not in locked[0].getMessage()
    reasons = [f.detail["reason"] for f in audits(desk, "login_failed")]
    assert reasons == ["wrong_password"] * 5 + ["rate_limited"]


# --- (2) uploads: only for a valid form, confirmations limited, the area capped ----------------


@pytest.fixture
def form_client(config, sessions):
    return create_app(config, sessions, Clock(OPEN)).test_client()


def big_files(count: int = 4, size: int = 4 * 1024 * 1024) -> list[tuple[io.BytesIO, str]]:
    return [(io.BytesIO(b"x" * size), f"log{n}.txt") for n in range(count)]


def area_bytes(config) -> int:
    root = config.home_path / "web-uploads"
    files = [p for p in root.rglob("*") if p.is_file() and p.name != "index.json"]
    return sum(p.stat().st_size for p in files)


def test_r30_an_invalid_inquiry_stores_no_upload(form_client, config) -> None:
    for action in ("confirm", "confirm", "add_item", "confirm"):
        data = inquiry(form_client, action=action, subject="", email="not an address")
        data["attachments"] = big_files()
        page = form_client.post("/helpdesk/inquiry", data=data, content_type="multipart/form-data")
        assert page.status_code == 200
        kept = "まだお預かりしていません" if action == "confirm" else "「確認」を押したとき"
        assert kept in page.text
        assert 'name="upload_token" value=""' in page.text
    assert area_bytes(config) == 0
    good = inquiry(form_client, action="confirm")
    good["attachments"] = big_files(1, 1000)
    confirm = form_client.post("/helpdesk/inquiry", data=good, content_type="multipart/form-data")
    assert "log0.txt" in confirm.text and area_bytes(config) == 1000


def test_r30_the_confirm_step_is_rate_limited_per_ip(config, sessions) -> None:
    web = dataclasses.replace(config.web, submissions_per_ip_per_hour=2)
    client = create_app(dataclasses.replace(config, web=web), sessions, Clock(OPEN)).test_client()
    for _ in range(6):  # three confirmations per allowed submission
        page = client.post("/helpdesk/inquiry", data=inquiry(client, action="confirm"))
        assert page.status_code == 200
    refused = client.post("/helpdesk/inquiry", data=inquiry(client, action="confirm"))
    assert refused.status_code == 429 and "時間をおいてから" in refused.text
    other = client.post(
        "/helpdesk/inquiry",
        data=inquiry(client, action="confirm"),
        environ_base={"REMOTE_ADDR": "192.0.2.77"},
    )
    assert other.status_code == 200


def test_r30_a_full_upload_area_refuses_files_and_logs_it_once(
    form_client, config, monkeypatch, caplog
) -> None:
    monkeypatch.setattr(uploads, "MAX_AREA_BYTES", 1500)
    caplog.set_level(logging.INFO, logger="uketsuke")
    first = inquiry(form_client, action="confirm")
    first["attachments"] = big_files(1, 1000)
    page = form_client.post("/helpdesk/inquiry", data=first, content_type="multipart/form-data")
    assert "log0.txt" in page.text
    for _ in range(3):
        more = inquiry(form_client, action="confirm")
        more["attachments"] = big_files(1, 1000)
        page = form_client.post("/helpdesk/inquiry", data=more, content_type="multipart/form-data")
        assert page.status_code == 200
        assert "ただいま添付ファイルをお預かりできません" in page.text
    assert area_bytes(config) == 1000
    full = [r for r in caplog.records if "upload area" in r.getMessage()]
    assert len(full) == 1 and full[0].levelno == logging.WARNING
    # Without files the inquiry still goes through.
    plain = form_client.post("/helpdesk/inquiry", data=inquiry(form_client, action="confirm"))
    assert plain.status_code == 200 and "ただいま添付ファイル" not in plain.text


# --- (13) bidirectional controls in attachment names --------------------------------------------


def test_r26_bidi_overrides_in_attachment_names_are_shown_neutralised(config, staff, desk) -> None:
    mail = EmailMessage()
    mail["From"] = "yamada@example.co.jp"
    mail["To"] = "support@example.jp"
    mail["Subject"] = "画像添付"
    mail["Message-ID"] = "<bidi.1@example.co.jp>"
    mail.set_content(FIELDS_BLOCK + "\n画面の画像を添付します。\n")
    mail.add_attachment(
        b"MZ", maintype="application", subtype="octet-stream", filename="x\u202egnp.exe"
    )
    mail.add_attachment(
        b"PK", maintype="application", subtype="zip", filename="請求書\u2067\u200f.zip"
    )
    [number] = receive(config, desk, "", data=mail.as_bytes(policy=policy.SMTP))
    page = staff.get(f"/staff/incidents/{number}").text
    for control in "\u202e\u2067\u200f":
        assert control not in page
    assert ">x[U+202E]gnp.exe</a>" in page
    assert ">請求書[U+2067][U+200F].zip</a>" in page
    link = re.search(r'href="(/staff/attachments/\d+/0)" download>x\[U\+202E\]', page).group(1)
    download = staff.get(link)
    assert download.status_code == 200 and download.data == b"MZ"
    disposition = download.headers["Content-Disposition"]
    assert "x[U+202E]gnp.exe" in disposition and "%E2%80%AE" not in disposition
    assert "\u202e" not in disposition
