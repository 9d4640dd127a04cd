"""The two commands: ``make run`` installs what running needs, ``make test`` the test tools too."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def planned(target: str, tmp_path: Path) -> list[str]:
    result = subprocess.run(
        ["make", "-n", "-B", target, f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if "pip install" in line]


def test_make_run_installs_the_daemon_and_ocr_not_the_test_tools(tmp_path: Path) -> None:
    installs = planned("run", tmp_path)
    assert any("'.[ocr]'" in line for line in installs), installs
    assert not any("[test" in line for line in installs), installs


def test_make_test_installs_the_test_tools(tmp_path: Path) -> None:
    assert any("'.[test,ocr]'" in line for line in planned("test", tmp_path))
