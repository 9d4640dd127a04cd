"""The wheel: templates and migrations ship inside it and are found from an installed copy."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_wheel_ships_templates_and_migrations_found_when_installed(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = dist.glob("uketsuke-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "intake/_templates/mail/ack.txt.j2" in names
    assert "intake/migrations/versions/0001_initial_schema.py" in names
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    probe = (
        "import intake, responder.templates as t; "
        "print(intake.__file__); print(t.templates_dir()); "
        "print(t.render_mail('held_expired', profile_name='p', support_address='s@example.jp', "
        "tag_prefix='#', received_at='r', days=14)[0])"
    )
    env = dict(os.environ, PYTHONPATH=str(target))
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {probe}"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    ).stdout
    module, templates, subject = out.splitlines()
    assert module.startswith(str(target))
    assert templates == str(target / "intake" / "_templates")
    assert subject == "お問い合わせ受付期限切れのお知らせ"


def test_systemd_unit_notifies_and_drains_from_the_main_process() -> None:
    """Type=notify (READY=1 after the sockets are bound) and KillMode=mixed: SIGTERM reaches the
    main process only, which lets the processor finish its batch (the drain tested in
    test_daemon); systemd's SIGKILL after TimeoutStopSec reaches every process."""
    from intake.daemon import DRAIN_SECONDS

    unit = ROOT / "deploy" / "systemd" / "uketsuke.service"
    settings = dict(
        line.split("=", 1)
        for line in unit.read_text(encoding="utf-8").splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert settings["Type"] == "notify"
    assert settings["NotifyAccess"] == "main"
    assert settings["KillSignal"] == "SIGTERM"
    assert settings["KillMode"] == "mixed"
    assert settings["ExecStart"].endswith("uketsuke run")
    assert int(settings["TimeoutStopSec"]) > DRAIN_SECONDS  # the daemon's own bound comes first
