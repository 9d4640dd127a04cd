"""Rough edges of the staff dashboard: merged incidents on the customer page, form attributes,
discarding held mail and the incident list as CSV. Flask's test client on real
SQLite/PostgreSQL, through the daemon's pipeline."""

from __future__ import annotations

import re

import pytest

from tests.test_web_staff import (  # noqa: F401 - fixtures
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
