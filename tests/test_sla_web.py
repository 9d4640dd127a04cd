"""The dashboard's incident list and response targets: the 期限 column in business time (R9,
R12), the filters 期限超過 and 本日期限, the sort by due time. Real Flask app, real database,
incidents through the real pipeline, the app's clock controlled."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlalchemy import select

from intake.config import Config, load_config
from intake.models import Incident, TimedAction
from intake.web import create_app
from scheduler.calendar import TOKYO
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.test_sla import Clock, receive
from tests.test_sla_report import answer
from tests.test_web_staff import furnish, login, post

TUESDAY = datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)  # due Wed 13:30
WEDNESDAY = datetime(2026, 11, 25, 10, 0, tzinfo=TOKYO)  # due Thu 12:00


@pytest.fixture
def config(tmp_path) -> Config:
    return load_config(None, env={"UKETSUKE_HOME": str(tmp_path / "desk")})


@pytest.fixture
def desk(config: Config, sessions):
    furnish(sessions)
    receive(config, sessions, make_mail(FIELDS_BLOCK + "\n一件目です。\n"), TUESDAY)
    receive(config, sessions, make_mail(FIELDS_BLOCK + "\n二件目です。\n"), WEDNESDAY)
    receive(config, sessions, make_mail(FIELDS_BLOCK + "\n三件目です。\n"), TUESDAY)
    answer(config, sessions, 3, TUESDAY)
    clock = Clock(TUESDAY)
    client = create_app(config, sessions, clock).test_client()
    assert login(client).status_code == 303
    return client, clock


def due_cells(page: str) -> dict[int, str]:
    """Each listed incident's 期限 cell, its tags stripped."""
    rows = re.findall(r'>#(\d+)</a>.*?<td data-label="期限" class="num">(.*?)</td>', page, re.S)
    return {int(n): re.sub(r"<[^>]+>", "", cell) for n, cell in rows}


def test_r12_due_column_counts_business_time_and_marks_overdue_in_red(desk) -> None:
    client, clock = desk
    clock.at = datetime(2026, 11, 25, 11, 10, tzinfo=TOKYO)  # 50 min before lunch, 30 after
    page = client.get("/staff/").text
    assert due_cells(page) == {3: "", 2: "残り 6時間50分", 1: "残り 1時間20分"}
    assert '<strong style="color:var(--error)">' not in page
    clock.at = datetime(2026, 11, 25, 15, 30, tzinfo=TOKYO)
    page = client.get("/staff/").text
    assert due_cells(page) == {3: "", 2: "残り 3時間30分", 1: "超過 2時間"}
    assert '<strong style="color:var(--error)">超過 2時間</strong>' in page


def test_overdue_and_due_today_filters_and_sort_by_due(desk) -> None:
    client, clock = desk
    clock.at = datetime(2026, 11, 25, 15, 30, tzinfo=TOKYO)
    assert list(due_cells(client.get("/staff/?sla=overdue").text)) == [1]
    assert list(due_cells(client.get("/staff/?sla=today").text)) == [1]
    clock.at = datetime(2026, 11, 26, 9, 0, tzinfo=TOKYO)  # Thursday: #2 is due today
    assert list(due_cells(client.get("/staff/?sla=today").text)) == [2]
    assert list(due_cells(client.get("/staff/?sla=overdue").text)) == [1]
    assert list(due_cells(client.get("/staff/?sort=due").text)) == [1, 2]  # answered: not due
    page = client.get("/staff/?sort=due&sla=nonsense").text  # an unknown value is ignored
    assert 'name="sort"' in page and "期限の近い順" in page and "本日期限" in page
    assert list(due_cells(page)) == [1, 2]


def test_incident_page_shows_the_due_times(desk) -> None:
    client, _ = desk
    due = client.get("/staff/incidents/1").text
    wednesday = "11月25日（水）13:30"
    assert f"<dt>回答期限</dt><dd>{wednesday}（初回回答の期限 {wednesday}、未回答）" in due
    answered = client.get("/staff/incidents/3").text
    first = "初回回答の期限 11月25日（水）13:30、初回回答 11月24日（火）10:30"
    assert f"<dt>回答期限</dt><dd>なし（{first}）" in answered


def test_r3_merged_incident_has_nothing_due(desk, sessions) -> None:
    client, _ = desk
    assert post(client, "/staff/incidents/1/merge", target="#2").status_code == 303
    with sessions() as session:
        assert session.get(Incident, 1).response_due is None
        assert session.get(Incident, 2).response_due is not None
        query = select(TimedAction.incident_id, TimedAction.state).where(
            TimedAction.kind == "sla_due"
        )
        states = dict(session.execute(query).all())
    assert (states[1], states[2]) == ("cancelled", "pending")
