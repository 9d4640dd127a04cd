"""Rough edges of the staff dashboard: merged incidents on the customer page, form attributes,
discarding held mail and the incident list as CSV. Flask's test client on real
SQLite/PostgreSQL, through the daemon's pipeline."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from intake.models import Inquiry, RawMessage, TimedAction
from intake.pipeline import Pipeline
from intake.store import store_raw
from tests.mailmaker import make_mail
from tests.test_web_staff import (  # noqa: F401 - fixtures
    OPEN,
    STAFF,
    TOKEN,
    audits,
    client,
    config,
    desk,
    post,
    receive,
    staff,
)

pytestmark = pytest.mark.db


def test_r3_r4_customer_page_shows_a_merged_incident_as_merged(config, staff, desk) -> None:  # noqa: F811
    [first] = receive(config, desk, "印刷できません。")
    [second] = receive(config, desk, "印刷がまだできません。")
    assert post(staff, f"/staff/incidents/{second}/merge", target=f"#{first}").status_code == 303
    page = staff.get("/staff/customers/1").text
    assert "サポート期間に属さないインシデント" not in page
    assert "統合済みのインシデント: 1件" in page
    assert re.search(r'data-label="消費" class="right">1<', page)


def test_held_page_discards_held_spam(config, staff, desk) -> None:  # noqa: F811
    receive_held(config, desk, "激安！今すぐクリック\n")
    page = staff.get("/staff/held")
    assert page.status_code == 200 and "破棄" in page.text
    assert 'action="/staff/held/inquiry/1/discard"' in page.text
    token = TOKEN.search(page.text).group(1)
    done = staff.post("/staff/held/inquiry/1/discard", data={"csrf_token": token})
    assert (done.status_code, done.headers["Location"]) == (303, "/staff/held")
    after = staff.get("/staff/held").text
    assert "問い合わせ 1 を破棄しました" in after
    assert 'action="/staff/held/inquiry/1/discard"' not in after
    with desk() as session:
        inquiry = session.get(Inquiry, 1)
        assert inquiry.state == "discarded"
        assert session.get(RawMessage, inquiry.raw_message_id).data  # kept
        assert [t.state for t in session.scalars(select(TimedAction))] == ["cancelled"]
    [entry] = audits(desk, "held_discard")
    assert (entry.actor, entry.target) == (STAFF, "inquiry:1")
    again = staff.post("/staff/held/inquiry/1/discard", data={"csrf_token": token})
    assert again.status_code == 303
    assert "保留中ではないため、破棄できません" in staff.get("/staff/held").text
    assert len(audits(desk, "held_discard")) == 1


def receive_held(config, sessions, body: str) -> None:  # noqa: F811
    """A customer's mail that lacks every field: held (R2)."""
    stored = store_raw(sessions, make_mail(body), channel="smtp", profile="helpdesk")
    with sessions.begin() as session:
        session.get(RawMessage, stored.id).received_at = OPEN
    Pipeline(config, sessions).process(stored.id, OPEN)
