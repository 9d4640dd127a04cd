"""Rough edges of the staff dashboard: merged incidents on the customer page, form attributes,
discarding held mail and the incident list as CSV. Flask's test client on real
SQLite/PostgreSQL, through the daemon's pipeline."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select

from intake.models import Incident, Inquiry, RawMessage, TimedAction
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


def csv_rows(response) -> list[list[str]]:
    assert response.data.startswith("\ufeff".encode())  # Excel: UTF-8 with a BOM
    text = response.data.decode("utf-8-sig")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")  # CRLF line ends
    return list(csv.reader(io.StringIO(text, newline="")))


def test_incident_list_downloads_as_csv_for_excel_with_the_pages_filters(
    config,  # noqa: F811
    staff,  # noqa: F811
    desk,  # noqa: F811
) -> None:
    many = "\n".join(f"{i}. 質問{i}の件でご確認ください。" for i in range(1, 53))
    numbers = receive(config, desk, many)
    assert len(numbers) == 52  # more than one page of the list (50)
    receive(config, desk, "=HYPERLINK(\"http://evil.example\")", subject="=1+2")
    listing = staff.get("/staff/?q=質問").text
    link = re.search(r'href="(/staff/incidents\.csv\?[^"]*)"[^>]*download', listing)
    assert link and "q=" in link.group(1)
    header, *rows = csv_rows(staff.get(link.group(1).replace("&amp;", "&")))
    assert header == [
        "番号", "状態", "受付日時", "顧客番号", "社名", "分類", "件名", "内容", "フラグ", "緊急",
        "プロファイル", "担当", "回答期限",
    ]  # fmt: skip
    assert [int(r[0]) for r in rows] == sorted(numbers, reverse=True)  # every page, newest first
    first = rows[-1]
    assert first[1:4] == ["対応待ち", "2026/11/24 10:30", "C0123-4567"]
    assert first[4:6] == ["株式会社サンプル商事", "その他"]
    assert first[10] == "ヘルプデスク・サポートサービス"
    assert first[11] == "" and re.fullmatch(r"2026/11/2\d \d\d:\d\d", first[12])  # 期限 (R9)
    everything = csv_rows(staff.get("/staff/incidents.csv"))
    formula = everything[1]  # the newest: a subject Excel would run
    assert formula[6] == "'=1+2" and formula[7].startswith("'=HYPERLINK")
    assert len(everything) == 1 + 53
    [entry, _] = audits(desk, "export_list")
    assert entry.actor == STAFF and entry.detail["rows"] == 52 and entry.detail["q"] == "質問"


def test_incident_list_csv_keeps_the_desks_and_the_targets_filters(
    config,  # noqa: F811
    staff,  # noqa: F811
    desk,  # noqa: F811
) -> None:
    numbers = receive(config, desk, "1. 質問1です。\n2. 質問2です。")
    with desk.begin() as session:
        session.get(Incident, numbers[0]).assignee = STAFF
    [_, mine] = csv_rows(staff.get("/staff/incidents.csv?assignee=mine"))
    assert int(mine[0]) == numbers[0] and mine[11] not in ("", STAFF)  # the member's name
    [_, *unassigned] = csv_rows(staff.get("/staff/incidents.csv?assignee=none"))
    assert [int(r[0]) for r in unassigned] == sorted(numbers[1:], reverse=True)
    for query in ("assignee=mine", "assignee=none", "sla=overdue", "sla=today", "sort=due"):
        listed = re.findall(r'href="/staff/incidents/(\d+)"', staff.get(f"/staff/?{query}").text)
        rows = csv_rows(staff.get(f"/staff/incidents.csv?{query}"))[1:]
        assert sorted(int(r[0]) for r in rows) == sorted(set(map(int, listed))), query
