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
