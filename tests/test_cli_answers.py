"""`uketsuke incidents reply` and `incidents close`: staff act from the command line (R10, R17,
R18, R20), through the same code as a mailed answer."""

from __future__ import annotations

import email
from email import policy

import pytest
from sqlalchemy import select

from intake import db
from intake.models import AuditEntry, Incident, OutboxMail, TimedAction
from tests.conftest import Cli

REGISTRY = (
    "customer_number,company,domains,contact_emails,profile,order_accepted\n"
    "C0123-4567,株式会社サンプル商事,example.co.jp,it@example.co.jp,,\n"
)


@pytest.fixture
def desk(cli: Cli, tmp_path) -> Cli:
    """A migrated database with the registry, 佐藤 花子 and incident #1, made by the CLI (once
    per test process, copied after that: ``Cli.prepare``)."""

    def build() -> None:
        cli.migrated()
        registry = tmp_path / "registry.csv"
        registry.write_text(REGISTRY, encoding="utf-8")
        assert cli("customers", "import", str(registry)).returncode == 0
        assert cli("staff", "add", "佐藤 花子", "sato@example.jp").returncode == 0
        new = cli(
            "incidents",
            "new",
            "--customer",
            "C0123-4567",
            "--name",
            "山田",
            "--text",
            "印刷できません。",
        )
        assert new.stdout == "incident #1 created\n", new.stderr

    cli.prepare("cli-answers-desk", build)
    return cli


def rows(database_url: str, kind: str) -> list[OutboxMail]:
    engine = db.make_engine(database_url)
    try:
        with db.session_factory(engine)() as session:
            return list(session.scalars(select(OutboxMail).where(OutboxMail.kind == kind)))
    finally:
        engine.dispose()


def test_r20_r10_reply_from_the_command_line_is_mailed_to_the_customer(
    desk: Cli, database_url: str, tmp_path
) -> None:
    answer = tmp_path / "answer.txt"
    answer.write_text("#time 30m\nドライバを更新してください。\n佐藤", encoding="utf-8")
    result = desk("incidents", "reply", "1", "--from", "SATO@example.jp", "--file", str(answer))
    assert (result.returncode, result.stdout) == (0, "incident #1: time:30m, answer\n")
    [sent] = rows(database_url, "answer")
    message = email.message_from_bytes(sent.data, policy=policy.default)
    assert sent.recipients == ["it@example.co.jp"] and "[#1]" in message["Subject"]
    assert "ドライバを更新してください。" in message.get_content()
    assert "#time" not in message.get_content()
    engine = db.make_engine(database_url)
    with db.session_factory(engine)() as session:
        incident = session.get(Incident, 1)
        assert (incident.state, incident.minutes_worked) == ("answered", 30)
        assert sent.state == "pending"  # held before sending (answer_hold_seconds)
        pending = select(TimedAction.kind).where(TimedAction.state == "pending")
        assert session.scalars(pending).all() == []  # R18: starts when sent; nothing due
        assert "staff_answer" in session.scalars(select(AuditEntry.action)).all()
    engine.dispose()


def test_r20_reply_errors_send_nothing(desk: Cli, database_url: str, tmp_path) -> None:
    answer = tmp_path / "answer.txt"
    answer.write_text("#urgent\n本文", encoding="utf-8")
    bad_command = desk(
        "incidents", "reply", "1", "--from", "sato@example.jp", "--file", str(answer)
    )
    assert bad_command.returncode == 2 and "nothing sent: #urgent" in bad_command.stderr
    answer.write_text("本文", encoding="utf-8")
    stranger = desk("incidents", "reply", "1", "--from", "x@example.jp", "--file", str(answer))
    assert stranger.returncode == 2 and "no active staff account" in stranger.stderr
    missing = desk("incidents", "reply", "9", "--from", "sato@example.jp", "--file", str(answer))
    assert (missing.returncode, missing.stderr) == (2, "uketsuke: no incident #9\n")
    assert rows(database_url, "answer") == []


def test_r20_reply_from_the_command_line_refuses_a_second_answer_unless_forced(
    desk: Cli, database_url: str, tmp_path
) -> None:
    """No double answers from the command line: once someone else answered after the customer's
    latest message, an answer is refused (one line, exit 2, nothing sent) unless forced; a note
    is not an answer."""
    assert desk("staff", "add", "鈴木 一郎", "suzuki@example.jp").returncode == 0
    answer = tmp_path / "answer.txt"

    def reply(staff: str, text: str, *extra: str):  # noqa: ANN202
        answer.write_text(text, encoding="utf-8")
        return desk("incidents", "reply", "1", "--from", staff, "--file", str(answer), *extra)

    assert reply("sato@example.jp", "再起動してください。").returncode == 0
    second = reply("suzuki@example.jp", "キャッシュを消してください。")
    assert second.returncode == 2, second.stderr
    assert second.stderr.startswith("uketsuke: nothing sent: sato@example.jp answered #1 at ")
    assert second.stderr.endswith(" (Japan time), after the customer's latest message; --force "
                                  "sends it anyway\n")
    assert len(rows(database_url, "answer")) == 1
    assert reply("suzuki@example.jp", "#note\n社内メモです。").returncode == 0  # not an answer
    assert reply("suzuki@example.jp", "#force\nキャッシュを消してください。").returncode == 0
    assert reply("sato@example.jp", "もう一度。", "--force").returncode == 0
    assert len(rows(database_url, "answer")) == 3


def test_r17_close_from_the_command_line_tells_the_customer_once(
    desk: Cli, database_url: str
) -> None:
    closed = desk("incidents", "close", "1", "--by", "sato@example.jp")
    assert (closed.returncode, closed.stdout) == (0, "incident #1 closed\n")
    again = desk("incidents", "close", "1")
    assert again.returncode == 2 and "closed already" in again.stderr
    [notice] = rows(database_url, "closed")
    assert notice.recipients == ["it@example.co.jp"]
