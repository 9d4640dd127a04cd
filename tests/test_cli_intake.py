"""The staff command line as a user runs it: status, incidents, held, reprocess (R7, R29, R30)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from intake import db
from intake.config import load_config
from intake.models import RawMessage, RawState
from intake.pipeline import Pipeline
from intake.store import store_raw
from tests.mailmaker import FIELDS_BLOCK, make_mail


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def receive(cli, data: bytes) -> int:
    engine = db.make_engine(cli.database_url)
    sessions = db.session_factory(engine)
    stored = store_raw(sessions, data, channel="smtp", profile="helpdesk")
    Pipeline(load_config(None, env={}), sessions).process(stored.id, datetime.now(UTC))
    engine.dispose()
    return stored.id


def test_r29_status_incidents_and_held_json(cli) -> None:
    cli.initialized()
    receive(
        cli,
        make_mail(FIELDS_BLOCK + "\n1. 設定方法を教えてください。\n2. エラーの原因は何ですか？\n"),
    )
    receive(cli, make_mail("ログインできません。\n"))
    status = json.loads(cli("status", "--json").stdout)
    assert status == {
        "raw_messages": 2,
        "incidents": 2,
        "held": 1,
        "ignored": 0,
        "unprocessable": 0,
        "outbox": {
            "pending": 2,
            "held": 0,
            "sent": 0,
            "failed": 0,
            "awaiting_approval": 0,
            "cancelled": 0,
        },
        "suppressed": 0,
        "processor": {"alive": False, "heartbeat_age_s": None, "restarts": 0, "processes": 0},
    }
    listed = lines(cli("incidents", "list", "--json").stdout)
    assert [i["number"] for i in listed] == [1, 2]
    assert {
        "number",
        "state",
        "profile",
        "customer_number",
        "category",
        "channel",
        "created_at",
    } <= set(listed[0])
    assert (listed[0]["state"], listed[0]["channel"], listed[0]["category"]) == (
        "open",
        "smtp",
        "operation",
    )
    assert listed[0]["created_at"].endswith("+09:00")
    assert lines(cli("incidents", "list", "--state", "closed", "--json").stdout) == []
    shown = json.loads(cli("incidents", "show", "2", "--json").stdout)
    assert shown["number"] == 2 and [m["direction"] for m in shown["thread"]] == ["in", "out"]
    held = lines(cli("held", "list", "--json").stdout)
    assert [(h["kind"], h["reason"], h["missing"]) for h in held] == [
        ("inquiry", "missing_fields", ["company", "name", "domain", "customer_number"])
    ]
    missing = cli("incidents", "show", "99")
    assert missing.returncode == 2 and missing.stderr == "uketsuke: no incident #99\n"


def test_r7_phone_incident_from_the_command_line(cli, tmp_path) -> None:
    cli.initialized()
    csv = tmp_path / "c.csv"
    csv.write_text(
        "customer_number,company,contact_emails\nC-1,株式会社A,a@a.example.jp\n", encoding="utf-8"
    )
    assert cli("customers", "import", str(csv)).returncode == 0
    made = cli(
        "incidents",
        "new",
        "--channel",
        "phone",
        "--customer",
        "c-1",
        "--name",
        "山田 太郎",
        "--domain",
        "a.example.jp",
        "--text",
        "電話: 管理画面に入れない",
        "--json",
    )
    assert made.returncode == 0, made.stderr
    incident = json.loads(made.stdout)
    assert (incident["channel"], incident["customer_number"]) == ("phone", "C-1")
    shown = json.loads(cli("incidents", "show", str(incident["number"]), "--json").stdout)
    assert shown == incident  # new --json prints the incident as show --json does
    assert shown["reply_address"] == "a@a.example.jp"  # R10: answered by email
    assert shown["thread"][-1]["body"] == "(受付のお知らせ)"  # acknowledged by email (R10)
    unknown = cli("incidents", "new", "--customer", "C-404", "--text", "x")
    assert unknown.returncode == 2 and "unknown customer" in unknown.stderr


def test_r29_reprocess_runs_unprocessable_mail_again(cli) -> None:
    cli.initialized()
    engine = db.make_engine(cli.database_url)
    sessions = db.session_factory(engine)
    stored = store_raw(
        sessions, make_mail(FIELDS_BLOCK + "\n質問です。\n"), channel="smtp", profile="helpdesk"
    )
    with sessions.begin() as session:  # as a bug in an earlier version left it
        raw = session.get(RawMessage, stored.id)
        raw.state, raw.last_error = RawState.UNPROCESSABLE, "RuntimeError: bug"
    held = lines(cli("held", "list", "--json").stdout)
    assert [(h["kind"], h["state"]) for h in held] == [("raw", "unprocessable")]
    result = cli("reprocess", "--held")
    assert result.returncode == 0 and f"raw {stored.id}: processed" in result.stdout
    again = cli("reprocess", str(stored.id))
    assert again.returncode == 2 and "nothing to do" in again.stderr
    usage = cli("reprocess")
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1
    engine.dispose()


def test_r29_reprocess_exits_1_when_a_message_stays_unprocessable(cli) -> None:
    cli.initialized()
    engine = db.make_engine(cli.database_url)
    sessions = db.session_factory(engine)
    good = store_raw(sessions, make_mail(FIELDS_BLOCK + "\n質問です。\n"), channel="smtp")
    lost = store_raw(sessions, make_mail(FIELDS_BLOCK + "\n別件です。\n"), channel="smtp")
    with sessions.begin() as session:
        for raw_id in (good.id, lost.id):
            session.get(RawMessage, raw_id).state = RawState.UNPROCESSABLE
        broken = session.get(RawMessage, lost.id)
        broken.data, broken.spool = None, "missing.eml"  # its spool file is gone
    result = cli("reprocess", "--held")
    assert result.returncode == 1
    assert f"raw {good.id}: processed" in result.stdout
    assert f"raw {lost.id}: unprocessable" in result.stdout
    assert result.stderr.splitlines()[-1] == "uketsuke: 1 of 2 still unprocessable"
    engine.dispose()


def test_r27_suppressed_automatic_mails_are_counted_by_status(cli) -> None:
    cli.initialized()
    for n in range(7):  # one sender, seven inquiries in an hour: five acknowledgments
        receive(cli, make_mail(FIELDS_BLOCK + f"\n質問{n}です。\n"))
    status = json.loads(cli("status", "--json").stdout)
    assert (status["incidents"], status["outbox"]["pending"], status["suppressed"]) == (7, 5, 2)
