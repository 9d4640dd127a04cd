"""``uketsuke report sla`` and the reports page's response-target section: first answers within
target, missed due times, median and 90th percentile first-response time in business hours (R9,
R12). Mail through the real pipeline, staff answers through the real answer path, the timers
through the scheduler's job, at controlled times."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from intake.answers import act
from intake.config import Config, load_config
from intake.models import Incident, OutboxMail, StaffUser
from intake.slareport import SLA_COLUMNS, sla_rows
from intake.staffcommands import StaffAnswer
from intake.web import create_app
from scheduler.calendar import TOKYO
from scheduler.service import job_ticks
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.test_sla import Clock, receive
from tests.test_web_staff import PASSWORD, STAFF, furnish, login

OPEN = datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)  # Tue; 8 business hours: Wed 13:30
OTHER_COMPANY = FIELDS_BLOCK.replace("株式会社サンプル商事", "有限会社テスト工業")
LATER = datetime(2026, 12, 31, 12, 0, tzinfo=TOKYO)


@pytest.fixture
def config(tmp_path) -> Config:
    return load_config(None, env={"UKETSUKE_HOME": str(tmp_path / "desk")})


def answer(config: Config, sessions, number: int, at: datetime) -> None:
    with sessions.begin() as session:
        staff = session.scalars(select(StaffUser)).one()
        act(session, config, session.get(Incident, number), staff, StaffAnswer("回答です。"), at)


@pytest.fixture
def month(config: Config, sessions):
    """November 2026 at the helpdesk: four incidents of two companies.

    #1 answered after 1.0 business hour (within), then a follow-up whose due time is missed;
    #2 answered after 9.0 business hours (Tue 10:30-17:00, Wed 10:00-12:00 and 13:00-14:30), past
    its due time Wed 13:30; #3 never answered; #4 (another company) answered after 1.5 hours."""
    with sessions.begin() as session:  # no registry: customers are grouped by stated company
        password = generate_password_hash(PASSWORD, method="scrypt")
        session.add(StaffUser(email=STAFF, reply_secret="ab" * 32, password_hash=password))
    for _ in range(3):
        receive(config, sessions, make_mail(FIELDS_BLOCK + "\n印刷できません。\n"), OPEN)
    thursday = datetime(2026, 11, 26, 16, 0, tzinfo=TOKYO)
    receive(config, sessions, make_mail(OTHER_COMPANY + "\n接続できません。\n"), thursday)
    answer(config, sessions, 1, OPEN + timedelta(hours=1))
    answer(config, sessions, 2, datetime(2026, 11, 25, 14, 30, tzinfo=TOKYO))
    answer(config, sessions, 4, datetime(2026, 11, 27, 10, 30, tzinfo=TOKYO))
    with sessions() as session:
        query = select(OutboxMail.message_id).where(
            OutboxMail.kind == "answer", OutboxMail.incident_id == 1
        )
        answered = session.scalars(query).one()
    follow_up = make_mail("まだです。\n", headers={"In-Reply-To": answered})
    receive(config, sessions, follow_up, datetime(2026, 11, 26, 10, 0, tzinfo=TOKYO))
    job_ticks(config, sessions, Clock(LATER))["sla"]()  # the follow-up's breach mail
    return sessions


SAMPLE = ["helpdesk", "", "株式会社サンプル商事", 3, 1, 3, "5.0", "9.0"]
OTHER = ["helpdesk", "", "有限会社テスト工業", 1, 1, 0, "1.5", "1.5"]


def test_r12_sla_report_counts_targets_in_business_hours(config: Config, month) -> None:
    start, end = datetime(2026, 11, 1, tzinfo=TOKYO), datetime(2026, 12, 1, tzinfo=TOKYO)
    with month() as session:
        # unregistered customers by stated company, in code point order
        assert sla_rows(session, config, start, end, LATER) == [OTHER, SAMPLE]
        # Before #3's due time has passed it is not a breach yet.
        early = sla_rows(session, config, start, end, OPEN + timedelta(hours=2))
        assert early[1][5] == 2
        december = sla_rows(session, config, end, datetime(2027, 1, 1, tzinfo=TOKYO), LATER)
        assert december == []


def test_sla_report_command_csv_and_text(month, cli) -> None:
    csv = cli("report", "sla", "--month", "2026-11", "--csv")
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout.splitlines() == [
        "\ufeffprofile,customer_number,company,incidents,first_responses_within_target,"
        "breaches,median_first_response_hours,p90_first_response_hours",
        "helpdesk,,有限会社テスト工業,1,1,0,1.5,1.5",
        "helpdesk,,株式会社サンプル商事,3,1,3,5.0,9.0",
    ]
    text = cli("report", "sla", "--month", "2026-11")
    header, *lines = text.stdout.splitlines()
    assert header.split() == list(SLA_COLUMNS)
    assert lines[1].split() == ["helpdesk", "株式会社サンプル商事", "3", "1", "3", "5.0", "9.0"]
    assert cli("report", "sla", "--month", "2026-10").stdout == (
        "no incidents accepted in 2026-10 (Asia/Tokyo)\n"
    )
    bad = cli("report", "sla", "--month", "2026-13")
    assert bad.returncode == 2 and "is not a month" in bad.stderr


def test_reports_page_shows_response_targets_with_a_chart(config: Config, month) -> None:
    client = create_app(config, month, Clock(LATER)).test_client()
    assert login(client).status_code == 303
    page = client.get("/staff/reports?month=2026-11")
    assert page.status_code == 200
    assert "回答期限の達成と超過" in page.text and "目標内 1 / 超過 3" in page.text
    assert re.search(r'data-label="期限超過" class="right">3<', page.text)
    assert re.search(r'data-label="初回回答 90%（営業時間）" class="right">9.0時間<', page.text)


def test_sla_report_names_registered_customers(config: Config, sessions) -> None:
    furnish(sessions)  # the registry: C0123-4567 株式会社サンプル商事
    receive(config, sessions, make_mail(FIELDS_BLOCK + "\n印刷できません。\n"), OPEN)
    start, end = datetime(2026, 11, 1, tzinfo=TOKYO), datetime(2026, 12, 1, tzinfo=TOKYO)
    with sessions() as session:
        rows = sla_rows(session, config, start, end, OPEN)
    assert rows == [["helpdesk", "C0123-4567", "株式会社サンプル商事", 1, 0, 0, None, None]]
