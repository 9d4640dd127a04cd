"""`uketsuke check-config` refuses an outbox that cannot work (issue 15, finding 12; R30).

An SMTP transport without a relay host, an intake address that is not an address, and a relay
login without STARTTLS to a host off the machine (the password would cross the network in clear,
as the IMAP side already refuses for ``security = "plain"``): each is one line of check-config,
and ``uketsuke run`` refuses to start on it like on any other invalid configuration.
"""

from __future__ import annotations

import pytest

from intake.config import load_config
from intake.schema import ConfigError
from tests.conftest import Cli
from tests.test_cli_check_config import check

NO_RELAY = '[outbox]\ntransport = "smtp"\n'
CLEAR_LOGIN = (
    '[outbox]\ntransport = "smtp"\nrelay_host = "smtp.example.jp"\nrelay_starttls = false\n'
    'relay_user = "uketsuke"\nrelay_password = "pw"\n'
)
BAD_INTAKE = '[profiles.helpdesk]\nintake_addresses = ["not-an-address"]\n'

NO_RELAY_LINE = 'outbox.relay_host: empty, but transport is "smtp" (the outbox has nowhere to send)'
CLEAR_LOGIN_LINE = (
    "outbox.relay_starttls: false sends relay_user's password unencrypted; it is allowed only"
    " for a loopback relay_host (127.0.0.1, ::1, localhost), not 'smtp.example.jp': set"
    " relay_starttls = true"
)
BAD_INTAKE_LINE = "profiles.helpdesk.intake_addresses.0: 'not-an-address' is not an email address"


def _problems(tmp_path, text: str) -> list[str]:
    path = tmp_path / "uketsuke.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path, env={})
    return error.value.problems


def test_r30_check_config_lists_each_outbox_problem_one_line(cli: Cli) -> None:
    result = check(cli, CLEAR_LOGIN + BAD_INTAKE)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"uketsuke: {CLEAR_LOGIN_LINE}",
        f"uketsuke: {BAD_INTAKE_LINE}",
    ]
    result = check(cli, NO_RELAY)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [f"uketsuke: {NO_RELAY_LINE}"]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "line"),
    [(NO_RELAY, NO_RELAY_LINE), (CLEAR_LOGIN, CLEAR_LOGIN_LINE), (BAD_INTAKE, BAD_INTAKE_LINE)],
)
def test_r30_daemon_refuses_to_start_with_an_outbox_that_cannot_work(
    cli: Cli, text: str, line: str
) -> None:
    path = cli.home / "uketsuke.toml"
    path.write_text(text, encoding="utf-8")
    result = cli("run", "--config", str(path), "--no-web", timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"uketsuke: {line}\n"


@pytest.mark.parametrize(
    "address", ["not-an-address", "support@", "@example.jp", "a b@example.jp", "x@localhost"]
)
def test_r30_intake_address_must_be_an_address(tmp_path, address: str) -> None:
    text = f'[profiles.desknet]\nintake_addresses = ["neo-support@example.jp", "{address}"]\n'
    assert _problems(tmp_path, text) == [
        f"profiles.desknet.intake_addresses.1: {address!r} is not an email address"
    ]


@pytest.mark.parametrize(
    ("host", "user", "allowed"),
    [
        ("smtp.example.jp", "uketsuke", False),
        ("192.0.2.25", "uketsuke", False),
        ("127.0.0.1", "uketsuke", True),
        ("localhost", "uketsuke", True),
        ("::1", "uketsuke", True),
        ("smtp.example.jp", "", True),  # no login: no password to carry
    ],
)
def test_r30_relay_login_without_starttls_only_to_a_loopback_host(
    tmp_path, host: str, user: str, allowed: bool
) -> None:
    text = (
        f'[outbox]\ntransport = "smtp"\nrelay_host = "{host}"\nrelay_starttls = false\n'
        f'relay_user = "{user}"\n'
    )
    path = tmp_path / "uketsuke.toml"
    path.write_text(text, encoding="utf-8")
    if allowed:
        assert load_config(path, env={}).outbox.relay_host == host
    else:
        assert _problems(tmp_path, text) == [
            "outbox.relay_starttls: false sends relay_user's password unencrypted; it is allowed"
            f" only for a loopback relay_host (127.0.0.1, ::1, localhost), not {host!r}: set"
            " relay_starttls = true"
        ]


def test_r30_working_outboxes_still_pass(tmp_path) -> None:
    path = tmp_path / "uketsuke.toml"
    path.write_text(
        '[outbox]\ntransport = "smtp"\nrelay_host = "smtp.example.jp"\nrelay_user = "u"\n'
        "[profiles.helpdesk]\n"
        'intake_addresses = ["Support@Example.JP", "help+desk@example.co.jp"]\n',
        encoding="utf-8",
    )
    config = load_config(path, env={})
    assert config.outbox.relay_host == "smtp.example.jp"
    assert load_config(None, env={}).outbox.transport == "maildir"
