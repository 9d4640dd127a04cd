"""Canned answers (定型文): `uketsuke canned add/list/remove`, and `#canned NAME` in a staff
answer filled for the incident, through the real pipeline and the real daemon."""

from __future__ import annotations

import email
import json
import re
from collections.abc import Callable
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from intake import db
from intake.config import load_config
from intake.models import CannedAnswer, Incident, IncidentMessage, RawState, StaffUser
from intake.pipeline import Pipeline
from scheduler.calendar import to_tokyo
from tests.conftest import Cli
from tests.daemon import Daemon
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.test_cli_answers import desk as cli_desk  # noqa: F401 - fixture
from tests.test_cli_answers import rows
from tests.test_life import STAFF as LIFE_STAFF
from tests.test_life import Sink, desk, send, sink  # noqa: F401 - fixtures
from tests.test_staff_mail import (
    CUSTOMER,
    OPEN,
    STAFF,
    new_incident,
    outbox,
    parsed,
    receive,
    staff_reply,
)

EVERY = (
    "{会社名}\n{氏名} 様\n\nお問い合わせ {番号}（{受付日時} 受付、顧客番号 {顧客番号}）の件です。\n"
    "次営業日（{次営業日}）に改めてご連絡します。\n担当 {担当者}"
)
ISO_TOKYO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00")


@pytest.fixture
def canned_cli(cli: Cli) -> Cli:
    cli.migrated()
    return cli


def add(cli: Cli, name: str, text: str, *more: str):  # noqa: ANN201
    path = cli.home / f"{len(list(cli.home.iterdir()))}.txt"
    path.write_text(text, encoding="utf-8")
    return cli("canned", "add", name, "--file", str(path), *more)


def listed(cli: Cli) -> list[dict[str, object]]:
    result = cli("canned", "list", "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_canned_add_list_json_remove_round_trip(canned_cli: Cli) -> None:
    added = add(canned_cli, "再起動", "{氏名} 様\n\nサーバーを再起動してください。\n")
    assert (added.returncode, added.stdout) == (0, "canned answer '再起動' (every profile) added\n")
    assert add(canned_cli, "再起動", "ヘルプデスク用", "--profile", "helpdesk").returncode == 0
    first, second = listed(canned_cli)
    assert list(first) == ["name", "profile", "body", "placeholders", "created_at"]
    assert (first["name"], first["profile"]) == ("再起動", None)
    assert first["placeholders"] == ["氏名"]
    assert first["body"] == "{氏名} 様\n\nサーバーを再起動してください。"
    assert ISO_TOKYO.fullmatch(str(first["created_at"]))
    assert (second["profile"], second["placeholders"]) == ("helpdesk", [])
    assert canned_cli("canned", "list").stdout.splitlines() == [
        "再起動 (every profile) {氏名}: {氏名} 様",
        "再起動 (helpdesk) -: ヘルプデスク用",
    ]
    again = add(canned_cli, "再起動", "二つ目")
    assert again.returncode == 2 and "exists" in again.stderr
    removed = canned_cli("canned", "remove", "再起動", "--profile", "helpdesk")
    assert removed.returncode == 0, removed.stderr
    assert [row["profile"] for row in listed(canned_cli)] == [None]
    assert canned_cli("canned", "remove", "再起動").returncode == 0
    assert listed(canned_cli) == []
    missing = canned_cli("canned", "remove", "再起動")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1


def test_canned_remove_of_two_profiles_asks_for_the_profile(canned_cli: Cli) -> None:
    assert add(canned_cli, "お礼", "A", "--profile", "helpdesk").returncode == 0
    assert add(canned_cli, "お礼", "B", "--profile", "desknet").returncode == 0
    refused = canned_cli("canned", "remove", "お礼")
    assert refused.returncode == 2 and "--profile" in refused.stderr
    assert len(listed(canned_cli)) == 2
    assert canned_cli("canned", "remove", "お礼", "--profile", "desknet").returncode == 0
    assert [row["body"] for row in listed(canned_cli)] == ["A"]


def test_canned_unknown_placeholder_is_refused_at_add(canned_cli: Cli) -> None:
    refused = add(canned_cli, "挨拶", "{氏名} 様\n{部署名} の皆様へ")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "{部署名}" in refused.stderr
    assert listed(canned_cli) == []
    assert add(canned_cli, "挨拶", "x", "--profile", "nosuch").returncode == 2


@pytest.fixture
def pipeline(tmp_path: Path, sessions) -> Pipeline:  # noqa: ANN001
    config = load_config(None, env={"UKETSUKE_HOME": str(tmp_path / "home")})
    with sessions.begin() as session:
        session.add(StaffUser(email=STAFF, name="佐藤 花子", reply_secret="ab" * 32, profiles=[]))
        session.add(CannedAnswer(name="折り返し", profile=None, body=EVERY))
        session.add(CannedAnswer(name="折り返し", profile="desknet", body="別プロファイル用"))
    return Pipeline(config, sessions)


def test_canned_in_a_mailed_answer_fills_every_placeholder_above_the_staff_words(
    pipeline: Pipeline, sessions
) -> None:
    number, notify, _ = new_incident(pipeline)  # Tuesday 2026-11-24 10:30
    body = "#canned 折り返し\n\nご不便をおかけしております。"
    state, _ = receive(pipeline, staff_reply(notify, body), at=OPEN + timedelta(minutes=5))
    assert state == RawState.PROCESSED
    [answer] = outbox(sessions, "answer")
    text = parsed(answer).get_content()
    expected = (
        "株式会社サンプル商事\n山田 太郎 様\n\n"
        f"お問い合わせ [#{number}]（11月24日（火）10:30 受付、顧客番号 C0123-4567）の件です。\n"
        "次営業日（11月25日（水））に改めてご連絡します。\n担当 佐藤 花子\n\n"
        "ご不便をおかけしております。"
    )
    assert expected in text
    assert "#canned" not in text and "{" not in text and "別プロファイル用" not in text


def test_canned_unknown_name_gets_staff_error_and_nothing_is_sent(
    pipeline: Pipeline, sessions
) -> None:
    number, notify, _ = new_incident(pipeline)
    state, _ = receive(pipeline, staff_reply(notify, "#canned ありません\n\n本文"))
    assert state == RawState.PROCESSED
    assert outbox(sessions, "answer") == []
    [error] = outbox(sessions, "staff_error")
    assert error.recipients == [STAFF]
    assert "定型文「ありません」はありません" in parsed(error).get_content()
    with sessions() as session:
        assert session.get(Incident, number).state == "open"


def answer_through(
    daemon: Daemon, capture: Sink, text: str, wrap: Callable[[bytes], bytes] = lambda m: m
) -> EmailMessage:
    """A customer's inquiry over SMTP, the staff member's answer ``text`` to its notification
    (``wrap`` makes it what the mail client sends); the answer as the customer receives it."""
    send(daemon, CUSTOMER, "support@example.jp", make_mail(FIELDS_BLOCK + "\n印刷できません。\n"))
    notify = capture.wait_for(lambda r, m: r == [LIFE_STAFF] and "[#" in m["Subject"])
    reply_to = str(notify["Reply-To"])
    answer = make_mail(
        text,
        subject="Re: " + str(notify["Subject"]),
        sender=LIFE_STAFF,
        to=reply_to,
        headers={"In-Reply-To": str(notify["Message-ID"])},
    )
    send(daemon, LIFE_STAFF, reply_to, wrap(answer))
    return capture.wait_for(lambda r, m: r == [CUSTOMER] and "Re:" in str(m["Subject"]))


def test_canned_through_the_daemon_reaches_the_customer_filled(
    desk: Daemon,  # noqa: F811
    sink,  # noqa: F811
    database_url: str,
) -> None:
    capture, _ = sink
    text = desk.home / "canned.txt"
    text.write_text(EVERY, encoding="utf-8")
    assert desk.cli("canned", "add", "折り返し", "--file", str(text)).returncode == 0
    desk.start()
    relayed = answer_through(desk, capture, "#canned 折り返し\n\nよろしくお願いいたします。\n")
    engine = db.make_engine(database_url)
    with db.session_factory(engine)() as session:
        incident = session.scalars(select(Incident)).one()
        out = session.scalars(
            select(IncidentMessage).where(IncidentMessage.author == LIFE_STAFF)
        ).one()
        config = load_config(None, env={"UKETSUKE_HOME": str(desk.home)})
        next_day = (
            config.profile("helpdesk").calendar().next_business_day(to_tokyo(out.created_at).date())
        )
        received = to_tokyo(incident.created_at)
    engine.dispose()
    weekday = "月火水木金土日"
    body = relayed.get_content()
    assert "株式会社サンプル商事\n山田 太郎 様" in body
    assert f"[#{incident.id}]" in body and "C0123-4567" in body and "担当 佐藤 花子" in body
    assert f"{received.month}月{received.day}日（{weekday[received.weekday()]}）" in body
    assert f"{received:%H:%M} 受付" in body
    assert f"（{next_day.month}月{next_day.day}日（{weekday[next_day.weekday()]}））" in body
    assert body.index("担当 佐藤 花子") < body.index("よろしくお願いいたします。")
    assert "{" not in body


def test_canned_in_a_command_line_reply_uses_the_profiles_own_first(
    cli_desk: Cli,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    assert add(cli_desk, "お礼", "全プロファイル用 {会社名}").returncode == 0
    assert add(cli_desk, "お礼", "{会社名} {顧客番号} 様", "--profile", "helpdesk").returncode == 0
    answer = tmp_path / "answer.txt"
    answer.write_text("#canned お礼\n佐藤", encoding="utf-8")
    result = cli_desk("incidents", "reply", "1", "--from", STAFF, "--file", str(answer))
    assert (result.returncode, result.stdout) == (0, "incident #1: answer\n"), result.stderr
    [sent] = rows(database_url, "answer")
    text = email.message_from_bytes(sent.data, policy=policy.default).get_content()
    assert "株式会社サンプル商事 C0123-4567 様\n\n佐藤" in text and "全プロファイル用" not in text
