"""The desk from the command line: `incidents assign`, `incidents list --assignee`, the
`assignee` key of `incidents list/show --json`, `staff away` and `away_until` in `staff list`."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from intake import db
from intake.models import AuditEntry
from tests.conftest import Cli
from tests.test_cli_answers import desk  # noqa: F401, F811 - the fixture: #1 and 佐藤 花子
from tests.test_cli_check_config import check


@pytest.fixture
def two(desk: Cli) -> Cli:  # noqa: F811
    """Incidents #1 and #2 of profile helpdesk; 佐藤 (every profile), 鈴木 (desknet only)."""

    def build() -> None:
        added = desk("staff", "add", "鈴木 一郎", "suzuki@example.jp", "--profile", "desknet")
        assert added.returncode == 0
        new = desk(
            "incidents", "new", "--customer", "C0123-4567", "--name", "山田", "--text", "二件目"
        )
        assert new.returncode == 0, new.stderr

    desk.prepare("cli-desk-two", build)
    return desk


def listed(cli: Cli, *options: str) -> list[dict]:
    result = cli("incidents", "list", "--json", *options)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_cli_assign_list_filters_and_json(two: Cli, database_url: str) -> None:
    cli = two
    assert [r["assignee"] for r in listed(cli)] == [None, None]
    done = cli("incidents", "assign", "2", "SATO@example.jp")
    assert (done.returncode, done.stdout) == (0, "incident #2 assigned to sato@example.jp\n")
    assert [(r["number"], r["assignee"]) for r in listed(cli)] == [
        (1, None),
        (2, "sato@example.jp"),
    ]
    assert [r["number"] for r in listed(cli, "--assignee", "sato@example.jp")] == [2]
    assert [r["number"] for r in listed(cli, "--assignee", "none")] == [1]
    shown = cli("incidents", "show", "2", "--json")
    assert json.loads(shown.stdout)["assignee"] == "sato@example.jp"
    assert "  assignee: sato@example.jp" in cli("incidents", "show", "2").stdout.splitlines()
    cleared = cli("incidents", "assign", "2", "--none")
    assert (cleared.returncode, cleared.stdout) == (0, "incident #2 unassigned\n")
    assert [r["number"] for r in listed(cli, "--assignee", "none")] == [1, 2]
    engine = db.make_engine(database_url)
    with db.session_factory(engine)() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "assign")).all()
    engine.dispose()
    assert [(e.actor, e.target, e.detail["assignee"]) for e in entries] == [
        ("cli", "incident:2", "sato@example.jp"),
        ("cli", "incident:2", None),
    ]


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (["2"], "uketsuke: give a staff email or --none (not both)\n"),
        (["2", "sato@example.jp", "--none"], "uketsuke: give a staff email or --none (not both)\n"),
        (["9", "sato@example.jp"], "uketsuke: no incident #9\n"),
        (["2", "nobody@example.jp"], "uketsuke: nobody@example.jp: no active staff account\n"),
        (
            ["2", "suzuki@example.jp"],
            "uketsuke: suzuki@example.jp does not work for the profile helpdesk\n",
        ),
    ],
)
def test_cli_assign_refuses_bad_input_in_one_line(two: Cli, arguments, error) -> None:
    cli = two
    result = cli("incidents", "assign", *arguments)
    assert (result.returncode, result.stderr) == (2, error)
    assert [r["assignee"] for r in listed(cli)] == [None, None]


def test_cli_staff_away_until_and_clear(two: Cli) -> None:
    cli = two
    away = cli("staff", "away", "sato@example.jp", "--until", "2026-12-28")
    assert (away.returncode, away.stdout) == (0, "staff sato@example.jp away until 2026-12-28\n")
    rows = [json.loads(line) for line in cli("staff", "list", "--json").stdout.splitlines()]
    assert [(r["email"], r["away_until"]) for r in rows] == [
        ("sato@example.jp", "2026-12-28"),
        ("suzuki@example.jp", None),
    ]
    assert "away until 2026-12-28" in cli("staff", "list").stdout.splitlines()[0]
    back = cli("staff", "away", "sato@example.jp", "--clear")
    assert (back.returncode, back.stdout) == (0, "staff sato@example.jp back\n")
    rows = [json.loads(line) for line in cli("staff", "list", "--json").stdout.splitlines()]
    assert rows[0]["away_until"] is None
    bad = cli("staff", "away", "sato@example.jp", "--until", "28.12.2026")
    assert (bad.returncode, bad.stderr) == (
        2,
        "uketsuke: '28.12.2026' is not a date (YYYY-MM-DD, e.g. 2026-12-28)\n",
    )
    assert cli("staff", "away", "nobody@example.jp", "--clear").returncode == 2


def test_cli_check_config_reads_auto_assign(cli: Cli) -> None:
    good = check(cli, '[profiles.desknet]\nauto_assign = "round_robin"\n')
    assert good.returncode == 0, good.stderr
    [desknet] = [line for line in good.stdout.splitlines() if line.startswith("profile desknet")]
    assert desknet.endswith("; new incidents assigned in turn")
    bad = check(cli, '[profiles.helpdesk]\nauto_assign = "random"\n')
    assert bad.returncode == 2 and bad.stderr.startswith("uketsuke: profiles.helpdesk.auto_assign:")
    assert len(bad.stderr.splitlines()) == 1
