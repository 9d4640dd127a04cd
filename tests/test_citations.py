"""The product stands alone: its code cites only its own documents (docs/rules.md,
docs/architecture.md, ...), never documents a clone does not have."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOREIGN = re.compile(r"DESIGN principle|STYLE [0-9]|SPEC|\.\./shared")


def test_code_cites_only_the_projects_own_documents() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in ("intake", "responder", "scheduler", "templates")
        for path in sorted((ROOT / package).rglob("*"))
        if path.is_file() and path.suffix in {".py", ".j2", ".html", ".txt", ".toml"}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if FOREIGN.search(line)
    ]
    assert found == []


def test_r26_database_errors_never_carry_the_statements_values() -> None:
    from sqlalchemy import text

    from intake import db

    engine = db.make_engine("sqlite://")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT * FROM nowhere WHERE x = :v"), {"v": "yamada@secret"})
    except Exception as exc:  # noqa: BLE001 - whatever the driver raises
        assert "yamada" not in str(exc)
    else:
        raise AssertionError("the statement should have failed")
    finally:
        engine.dispose()
