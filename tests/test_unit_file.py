"""The systemd unit (issue 15): the watchdog and umask the daemon relies on, and an exposure of
"OK" or better by systemd's own judge (``systemd-analyze security``)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "deploy" / "systemd" / "uketsuke.service"


def test_unit_sets_the_watchdog_umask_and_notify() -> None:
    text = UNIT.read_text(encoding="utf-8")
    for line in ("Type=notify", "WatchdogSec=60", "UMask=0077", "KillMode=mixed"):
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line


def test_unit_exposure_is_ok_or_better() -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    result = subprocess.run(
        [analyze, "security", "--offline=true", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) < 5.0, found.group(0)  # 5.0 and above is MEDIUM or worse
