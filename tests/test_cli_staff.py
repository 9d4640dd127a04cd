"""`uketsuke staff add/list/remove`: the staff accounts that may answer by mail (R20, R21, R30)."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from intake import db
from intake.models import StaffUser
from tests.conftest import Cli

ISO_TOKYO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00")


@pytest.fixture
def staff_cli(cli: Cli) -> Cli:
    cli.migrated()
    return cli


def listed(cli: Cli) -> list[dict[str, object]]:
    result = cli("staff", "list", "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_r20_add_list_remove_round_trip(staff_cli: Cli, database_url: str) -> None:
    added = staff_cli("staff", "add", "山田 太郎", "Yamada@Example.JP")
    assert added.returncode == 0, added.stderr
    assert added.stdout == "staff yamada@example.jp added (profiles: all)\n"
    [row] = listed(staff_cli)
    assert list(row) == [
        "email",
        "name",
        "profiles",
        "active",
        "created_at",
        "approver",
        "needs_approval",
        "away_until",
    ]
    assert (row["approver"], row["needs_approval"]) == (False, False)
    assert row["email"] == "yamada@example.jp"  # stored lower-case
    assert row["name"] == "山田 太郎"
    assert row["profiles"] == []
    assert row["active"] is True
    assert ISO_TOKYO.fullmatch(str(row["created_at"]))
    text = staff_cli("staff", "list")
    assert text.stdout.splitlines() == [
        f"yamada@example.jp 山田 太郎 (profiles: all) active since {row['created_at']}"
    ]
    engine = db.make_engine(database_url)
    with db.session_factory(engine)() as session:
        secret = session.scalars(select(StaffUser.reply_secret)).one()
    engine.dispose()
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    assert secret not in added.stdout + text.stdout + json.dumps(row)
    removed = staff_cli("staff", "remove", "YAMADA@example.jp")
    assert (removed.returncode, removed.stdout) == (0, "staff yamada@example.jp removed\n")
    assert listed(staff_cli) == []


def test_r21_profiles_are_named_once_each_in_order(staff_cli: Cli) -> None:
    result = staff_cli(
        "staff", "add", "Sato", "sato@example.jp",
        "--profile", "desknet", "--profile", "helpdesk", "--profile", "desknet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "staff sato@example.jp added (profiles: desknet, helpdesk)\n"
    kato = staff_cli("staff", "add", "Kato", "kato@example.jp", "--profile", "helpdesk")
    assert kato.returncode == 0, kato.stderr
    rows = listed(staff_cli)
    assert [(r["email"], r["profiles"]) for r in rows] == [
        ("sato@example.jp", ["desknet", "helpdesk"]),
        ("kato@example.jp", ["helpdesk"]),
    ]


def test_r30_unknown_profile_names_the_known_ones(staff_cli: Cli) -> None:
    result = staff_cli("staff", "add", "Sato", "sato@example.jp", "--profile", "nosuch")
    assert result.returncode == 2
    assert result.stderr == "uketsuke: unknown profile 'nosuch' (known: desknet, helpdesk)\n"
    assert listed(staff_cli) == []


@pytest.mark.parametrize(
    "email", ["sato", "sato@", "@example.jp", "sato@example", "a b@example.jp", "a@b@example.jp"]
)
def test_r30_an_email_that_is_not_an_address_is_refused(staff_cli: Cli, email: str) -> None:
    result = staff_cli("staff", "add", "Sato", email)
    assert result.returncode == 2
    assert result.stderr.startswith(f"uketsuke: {email!r} is not an email address")
    assert result.stderr.count("\n") == 1


def test_r30_adding_an_email_twice_is_refused(staff_cli: Cli) -> None:
    assert staff_cli("staff", "add", "Sato", "sato@example.jp").returncode == 0
    again = staff_cli("staff", "add", "Sato Jiro", "SATO@example.jp")
    assert (again.returncode, again.stderr) == (2, "uketsuke: staff sato@example.jp exists\n")
    assert [r["name"] for r in listed(staff_cli)] == ["Sato"]


def test_r30_removing_an_unknown_email_is_refused(staff_cli: Cli) -> None:
    result = staff_cli("staff", "remove", "nobody@example.jp")
    assert (result.returncode, result.stderr) == (2, "uketsuke: no staff nobody@example.jp\n")


def test_r30_an_empty_name_is_refused(staff_cli: Cli) -> None:
    result = staff_cli("staff", "add", "  ", "sato@example.jp")
    assert (result.returncode, result.stderr) == (2, "uketsuke: the name is empty\n")
