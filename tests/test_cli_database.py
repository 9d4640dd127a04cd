"""Database commands find the daemon's database or say which one they looked for (R30).

Only ``migrate``/``init-db`` create a database; a read command run without the daemon's
UKETSUKE_HOME used to create ./var/uketsuke.db and then fail with "no such table".
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from intake.cli.common import mask_url
from tests.conftest import UKETSUKE

READ_COMMANDS = [
    ["status"],
    ["status", "--json"],
    ["incidents", "list"],
    ["held", "list"],
    ["customers", "import", "customers.csv"],
]


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("UKETSUKE_")}
    return subprocess.run(
        [str(UKETSUKE), *args],
        capture_output=True,
        text=True,
        env=dict(clean, **env),
        cwd=cwd,
        timeout=60,
    )


@pytest.mark.parametrize("args", READ_COMMANDS, ids=" ".join)
def test_r30_no_database_is_named_and_never_created(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "customers.csv").write_text("customer_number,company\nC1,A社\n", encoding="utf-8")
    result = run(tmp_path, *args)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"uketsuke: no database at {tmp_path / 'var' / 'uketsuke.db'} (set UKETSUKE_HOME or"
        " UKETSUKE_DATABASE_URL, or run `uketsuke migrate`)\n"
    )
    assert not (tmp_path / "var").exists()


def test_r30_a_database_without_the_schema_says_run_migrate(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    result = run(tmp_path, "status", UKETSUKE_DATABASE_URL=f"sqlite:///{path}")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"uketsuke: database {path} has no uketsuke schema; run `uketsuke migrate`\n"
    )


def test_r30_empty_postgresql_schema_says_run_migrate(cli) -> None:
    if not cli.database_url.startswith("postgresql"):
        pytest.skip("UKETSUKE_TEST_DATABASE_URL (PostgreSQL) not set")
    result = cli("incidents", "list")
    assert result.returncode == 2
    assert result.stderr.startswith("uketsuke: database postgresql")
    assert result.stderr.endswith("has no uketsuke schema; run `uketsuke migrate`\n")


def test_r30_unreachable_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://uk:s3cret@127.0.0.1:1/uk"
    result = run(tmp_path, "status", UKETSUKE_DATABASE_URL=url)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(
        "uketsuke: database postgresql+psycopg://uk:***@127.0.0.1:1/uk unavailable: "
    )
    assert result.stderr.count("\n") == 1 and "s3cret" not in result.stderr


def test_migrate_creates_then_read_commands_work(tmp_path: Path) -> None:
    home = tmp_path / "home"
    created = run(tmp_path, "migrate", UKETSUKE_HOME=str(home))
    assert created.returncode == 0, created.stderr
    assert (home / "uketsuke.db").is_file()
    status = run(tmp_path, "status", UKETSUKE_HOME=str(home))
    assert status.returncode == 0, status.stderr
    assert "raw_messages: 0" in status.stdout


def test_cli_fixture_database_after_init_db(cli) -> None:
    assert cli("init-db").returncode == 0
    result = cli("incidents", "list", "--json")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://uk:s3cret@db/uk", "postgresql+psycopg://uk:***@db/uk"),
        ("postgresql+psycopg://uk:p@ss:w@rd@db/uk", "postgresql+psycopg://uk:***@db/uk"),
        ("postgresql+psycopg://uk@db/uk", "postgresql+psycopg://uk@db/uk"),
        (
            "postgresql+psycopg://db/uk?user=u&password=s3",
            "postgresql+psycopg://db/uk?user=u&password=***",
        ),
        ("sqlite:////srv/uk/u.db", "sqlite:////srv/uk/u.db"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown
