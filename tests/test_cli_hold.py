"""`uketsuke outbox cancel` (送信保留) and the approval roles of `staff add/set/list`, run as a
user runs them, on a real database; the outbox dispatcher as the daemon builds it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from intake import db
from intake.config import load_config
from intake.models import AuditEntry, Incident, OutboxMail
from scheduler.service import make_dispatcher
from tests.conftest import Cli
from tests.test_cli_answers import desk, rows  # noqa: F401 - the fixture

HOLD = timedelta(seconds=60)  # answer_hold_seconds, the default


def reply(cli: Cli, tmp_path, text: str = "ドライバを更新してください。") -> OutboxMail:
    answer = tmp_path / "answer.txt"
    answer.write_text(text, encoding="utf-8")
    done = cli("incidents", "reply", "1", "--from", "sato@example.jp", "--file", str(answer))
    assert done.returncode == 0, done.stderr
    return rows(cli.database_url, "answer")[-1]


def dispatch(cli: Cli, at: datetime) -> None:
    config = load_config(None, env={"UKETSUKE_HOME": str(cli.home)})
    engine = db.make_engine(cli.database_url)
    try:
        make_dispatcher(config, db.session_factory(engine)).run_once(at)
    finally:
        engine.dispose()


def test_outbox_cancel_within_the_hold_sends_nothing(desk: Cli, tmp_path) -> None:  # noqa: F811
    before = datetime.now(UTC)
    answer = reply(desk, tmp_path)
    assert answer.state == "pending" and answer.due_at >= before + HOLD
    listed = desk("outbox", "list", "--kind", "answer", "--json")
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["id"], row["kind"], row["state"]) == (answer.id, "answer", "pending")
    done = desk("outbox", "cancel", str(answer.id))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"outbox {answer.id} cancelled: the answer to #1 was not sent\n"
    dispatch(desk, datetime.now(UTC) + timedelta(hours=1))
    [answer] = rows(desk.database_url, "answer")
    assert (answer.state, answer.sent_at) == ("cancelled", None)
    listed = desk("outbox", "list", "--state", "cancelled", "--json")
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [answer.id]
    engine = db.make_engine(desk.database_url)
    with db.session_factory(engine)() as session:
        incident = session.get(Incident, 1)
        assert (incident.state, incident.last_staff_answer_at) == ("open", None)
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "answer_cancelled"))
        assert (entry.actor, entry.target) == ("cli", f"outbox:{answer.id}")
    engine.dispose()


def test_outbox_cancel_after_sending_is_a_one_line_error_exit_1(desk: Cli, tmp_path) -> None:  # noqa: F811
    answer = reply(desk, tmp_path)
    dispatch(desk, datetime.now(UTC) + HOLD + timedelta(seconds=1))
    assert rows(desk.database_url, "answer")[0].state == "sent"
    late = desk("outbox", "cancel", str(answer.id))
    assert (late.returncode, late.stdout) == (1, "")
    assert late.stderr == f"uketsuke: outbox {answer.id} is sent; it can no longer be cancelled\n"
    [ack] = rows(desk.database_url, "ack")
    other = desk("outbox", "cancel", str(ack.id))
    assert other.returncode == 2 and "only a staff answer" in other.stderr
    assert desk("outbox", "cancel", "999").returncode == 2


def test_staff_approval_roles_add_set_and_list(cli: Cli) -> None:
    cli.migrated()
    added = cli("staff", "add", "加藤 部長", "kato@example.jp", "--approver")
    assert added.returncode == 0, added.stderr
    assert cli("staff", "add", "佐藤 花子", "sato@example.jp", "--needs-approval").returncode == 0

    def roles() -> dict[str, tuple[bool, bool]]:
        listed = cli("staff", "list", "--json").stdout.splitlines()
        return {
            row["email"]: (row["approver"], row["needs_approval"])
            for row in map(json.loads, listed)
        }

    assert roles() == {"kato@example.jp": (True, False), "sato@example.jp": (False, True)}
    changed = cli("staff", "set", "sato@example.jp", "--no-needs-approval", "--approver")
    assert (changed.returncode, changed.stdout) == (0, "staff sato@example.jp: approver\n")
    assert roles()["sato@example.jp"] == (True, False)
    text = cli("staff", "list").stdout
    assert text.splitlines()[0].endswith(", approver")
    nothing = cli("staff", "set", "sato@example.jp")
    assert nothing.returncode == 2 and nothing.stderr.count("\n") == 1
    unknown = cli("staff", "set", "nobody@example.jp", "--approver")
    assert unknown.returncode == 2 and "no staff nobody@example.jp" in unknown.stderr
