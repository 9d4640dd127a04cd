"""Findings of the security test of issue 15 on the web doors: dashboard sessions end on the
server (logout, ``staff passwd``, ``staff remove``), login throttling per address and client
address, uploads stored only for a valid inquiry within a cap, and attachment names with
bidirectional controls shown neutralised (R26, R29, R30)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from intake import db
from intake.config import load_config
from intake.models import StaffUser
from intake.web import create_app
from tests.conftest import Cli
from tests.test_web_staff import OPEN, PASSWORD, STAFF, Clock, furnish, login, post


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
    assert cli("migrate").returncode == 0
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
