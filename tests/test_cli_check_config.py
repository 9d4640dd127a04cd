"""`uketsuke check-config` as an operator runs it: every problem, mailboxes, secrets (R30).

Also the daemon's side of a missing IMAP password: its login-failure log names the variable that
check-config names.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from pathlib import Path

import pytest
from imapclient.exceptions import LoginError

from intake.channels.imap import ImapPoller
from intake.config import ImapConfig
from tests.conftest import UKETSUKE, Cli

MAILBOX = """
[[imap]]
name = "support-inbox"
host = "imap.example.jp"
username = "support@example.jp"
"""
VARIABLE = "UKETSUKE_IMAP_PASSWORD_SUPPORT_INBOX"


def check(cli: Cli, text: str, **env: str) -> subprocess.CompletedProcess[str]:
    path = cli.home / "uketsuke.toml"
    path.write_text(text, encoding="utf-8")
    return subprocess.run(
        [str(UKETSUKE), "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        env=dict(cli.env, **env),
        cwd=cli.home,
        timeout=60,
    )


def test_r30_every_error_is_shown_one_line_each(cli: Cli) -> None:
    result = check(
        cli,
        '[smtp]\nport = 70000\n[profiles.helpdesk]\nlicense_cutoff = "25:00"\n'
        + MAILBOX
        + 'profile = "helpdsk"\nsecurity = "plain"\n',
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        "uketsuke: smtp.port: Input should be less than or equal to 65535",
        "uketsuke: profiles.helpdesk.license_cutoff: invalid time '25:00' (expected HH:MM)",
        'uketsuke: imap.0.security: "plain" sends the password unencrypted; it is allowed only'
        " for a loopback host (127.0.0.1, ::1, localhost), not 'imap.example.jp': use tls or"
        " starttls",
        "uketsuke: imap.0.profile: unknown profile 'helpdsk' for support-inbox"
        " (known: desknet, helpdesk)",
    ]
    assert "more" not in result.stderr and "Traceback" not in result.stderr


def test_r30_other_commands_show_the_first_error_and_point_to_check_config(cli: Cli) -> None:
    path = cli.home / "uketsuke.toml"
    path.write_text("[smtp]\nport = 70000\nprot = 1\n", encoding="utf-8")
    result = cli("calendar", "--config", str(path), "is-open", "2026-11-24T10:00")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        "uketsuke: smtp.prot: Extra inputs are not permitted"
        " (and 1 more: `uketsuke check-config` lists them)\n"
    )


def test_r7_unset_imap_password_is_an_error_naming_the_variable(cli: Cli) -> None:
    unset = check(cli, MAILBOX)
    assert unset.returncode == 2
    assert unset.stderr == (
        f"uketsuke: imap.0.password: empty, and {VARIABLE} is not set"
        " (mailbox support-inbox cannot log in)\n"
    )
    assert "configuration OK" not in unset.stdout
    assert f"password from {VARIABLE} (NOT SET)" in unset.stdout
    good = check(cli, MAILBOX, **{VARIABLE: "secret-pw"})
    assert (good.returncode, good.stderr) == (0, "")
    assert "secret-pw" not in good.stdout


def test_r7_lists_the_mailboxes_it_would_poll(cli: Cli) -> None:
    result = check(
        cli,
        MAILBOX + 'folder = "Support"\n[[imap]]\nname = "neo"\nhost = "127.0.0.1"\nport = 1143\n'
        'security = "plain"\nusername = "neo"\npassword = "pw"\nprofile = "desknet"\n'
        'after = "move"\n',
        **{VARIABLE: "x"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        "imap support-inbox: polls Support at imap.example.jp:993 (tls) as support@example.jp"
        f" -> profile helpdesk; then flag $Uketsuke; password from {VARIABLE} (set)"
    ) in lines
    assert (
        "imap neo: polls INBOX at 127.0.0.1:1143 (plain) as neo -> profile desknet;"
        " then move to uketsuke-stored; password from the file"
    ) in lines
    assert lines[-1] == "configuration OK"


def test_web_address_is_where_the_daemon_serves(cli: Cli) -> None:
    result = check(cli, "")
    assert result.returncode == 0, result.stderr
    [web] = [line for line in result.stdout.splitlines() if line.startswith("web:")]
    assert web.startswith("web: listens on 127.0.0.1:8080 (http://127.0.0.1:8080/<profile>/inquiry")
    assert "imap: no mailbox to poll" in result.stdout


def test_database_password_is_never_printed(cli: Cli) -> None:
    url = "postgresql+psycopg://uk:s3cret@db.example.jp:5432/uk?password=s3cret"
    result = check(cli, "", UKETSUKE_DATABASE_URL=url)
    assert "database: postgresql+psycopg://uk:***@db.example.jp:5432/uk?password=***" in (
        result.stdout
    )
    assert "s3cret" not in result.stdout + result.stderr


class _StopOnWait(threading.Event):
    """The poller's stop event: its first back-off wait ends the loop."""

    def wait(self, timeout: float | None = None) -> bool:
        self.set()
        return True


@pytest.mark.parametrize(("password", "named"), [("", True), ("in-the-file", False)])
def test_r7_daemon_login_failure_names_the_unset_variable(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    password: str,
    named: bool,
) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)
    mailbox = ImapConfig(
        name="support-inbox", host="imap.example.jp", username="u", password=password
    )
    poller = ImapPoller(mailbox, None, "helpdesk")  # type: ignore[arg-type]
    monkeypatch.setattr(poller, "take_lease", lambda: True)
    monkeypatch.setattr(poller, "release_lease", lambda: None)

    def refused() -> None:
        raise LoginError("b'[AUTHENTICATIONFAILED] Authentication failed.'")

    monkeypatch.setattr(poller, "_connect", refused)
    with caplog.at_level(logging.WARNING, logger="uketsuke.imap"):
        poller.run(_StopOnWait())
    [record] = caplog.records
    expected = f"LoginError (no password: {VARIABLE} is not set)" if named else "LoginError;"
    assert expected in record.getMessage(), record.getMessage()
    assert "in-the-file" not in record.getMessage()


def test_example_configuration_checks_out(cli: Cli) -> None:
    example = Path(__file__).resolve().parents[1] / "deploy" / "uketsuke.example.toml"
    result = cli("check-config", "--config", str(example))
    assert result.returncode == 0, result.stderr
    assert f"config: {example}" in result.stdout
