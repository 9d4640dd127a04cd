"""Configuration: one schema, documented defaults, key-naming errors (R9, R13, R14 values)."""

from __future__ import annotations

import pickle
import tomllib
from datetime import date, datetime, time
from pathlib import Path

import pytest

from intake.config import (
    ConfigError,
    ImapConfig,
    SmtpConfig,
    as_data,
    builtin_profiles,
    load_config,
)
from intake.configchecks import is_loopback
from scheduler.calendar import TOKYO

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "deploy" / "uketsuke.example.toml"


def test_example_file_is_exactly_the_builtin_defaults() -> None:
    assert load_config(EXAMPLE, env={}) == load_config(None, env={})


def test_example_file_writes_every_key_of_the_builtin_profiles() -> None:
    """The example is checked against the one source (builtin_profiles), key by key, without
    the merge over the built-ins that would hide a key missing from the file."""
    with EXAMPLE.open("rb") as handle:
        raw = tomllib.load(handle)
    defaults = as_data(load_config(None, env={}))
    assert raw["profiles"] == {name: as_data(p) for name, p in builtin_profiles().items()}
    assert raw == defaults


def test_r13_desknet_hours_carry_no_invented_date() -> None:
    """DN 2(1) states its hours without an effective date: one version, dated 2000-01-01 as a
    placeholder for "always" (2010-01-01 appears in neither document)."""
    [hours] = load_config(None, env={}).profile("desknet").hours
    assert hours.effective_from == date(2000, 1, 1)
    calendar = load_config(None, env={}).profile("desknet").calendar()
    assert calendar.is_open(datetime(2005, 6, 1, 9, 0, tzinfo=TOKYO))  # a Wednesday


def test_r9_builtin_profiles_carry_the_terms_hours() -> None:
    config = load_config(None, env={})
    helpdesk = config.profile("helpdesk").calendar()
    desknet = config.profile("desknet").calendar()
    assert helpdesk.hours[-1].periods == ((time(10), time(12)), (time(13), time(17)))
    assert desknet.hours[-1].periods == ((time(9), time(12)), (time(13), time(17, 30)))
    assert desknet.license_cutoff == time(17)
    assert config.profile_for_address("Neo-Support@example.jp") == "desknet"
    assert config.profile_for_address("support@example.jp") == "helpdesk"
    assert config.profile_for_address("nobody@example.jp") is None


def test_r12_builtin_company_holidays_close_year_end_and_summer() -> None:
    calendar = load_config(None, env={}).profile("helpdesk").calendar()
    for day in (date(2026, 12, 29), date(2027, 1, 1), date(2027, 1, 3), date(2026, 8, 14)):
        assert not calendar.is_business_day(day), day
    assert calendar.is_business_day(date(2027, 1, 4))


def test_r13_profile_lists_dated_hour_versions(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        """
[[profiles.helpdesk.hours]]
effective_from = 2013-08-01
periods = [["09:00", "18:00"]]
[[profiles.helpdesk.hours]]
effective_from = 2018-11-01
periods = [["10:00", "12:00"], ["13:00", "17:00"]]
""",
        encoding="utf-8",
    )
    calendar = load_config(path, env={}).profile("helpdesk").calendar()
    assert calendar.is_open(datetime(2018, 10, 31, 17, 30, tzinfo=TOKYO))
    assert not calendar.is_open(datetime(2018, 11, 1, 17, 30, tzinfo=TOKYO))


def test_file_merges_over_builtin_profile(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[profiles.desknet]\nlicense_cutoff = "16:00"\n', encoding="utf-8")
    config = load_config(path, env={})
    assert config.profile("desknet").license_cutoff == "16:00"
    assert config.profile("desknet").intake_addresses == ["neo-support@example.jp"]


def test_environment_overrides() -> None:
    config = load_config(
        None,
        env={
            "UKETSUKE_HOME": "/srv/uk",
            "UKETSUKE_SMTP_PORT": "2626",
            "UKETSUKE_WEB_PORT": "8181",
            "UKETSUKE_DATABASE_URL": "sqlite:////tmp/x.db",
        },
    )
    assert config.home == "/srv/uk"
    assert config.smtp.port == 2626
    assert config.web.port == 8181
    assert config.effective_database_url == "sqlite:////tmp/x.db"


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('default_profile = "desknet"\n', encoding="utf-8")
    assert load_config(None, env={"UKETSUKE_CONFIG": str(path)}).default_profile == "desknet"


@pytest.mark.parametrize(
    ("text", "key", "what"),
    [
        (
            '[profiles.helpdesk]\nlicense_cutoff = "25:00"\n',
            "profiles.helpdesk.license_cutoff",
            "invalid time",
        ),
        ("[smtp]\nport = 70000\n", "smtp.port", "less than or equal"),
        ("[smtp]\nprot = 25\n", "smtp.prot", "Extra inputs"),
        (
            "[[profiles.helpdesk.hours]]\neffective_from = 2020-01-01\n"
            'periods = [["13:00", "12:00"]]\n',
            "profiles.helpdesk.hours.0.periods",
            "ends before it starts",
        ),
        (
            '[profiles.helpdesk]\ncompany_holidays = [["13-01", "01-03"]]\n',
            "profiles.helpdesk.company_holidays",
            "expected MM-DD",
        ),
        ('default_profile = "nosuch"\n', "default_profile", "unknown profile"),
        (
            '[profiles.desknet]\nintake_addresses = ["support@example.jp"]\n',
            "profiles",
            "intake address of helpdesk and desknet",
        ),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, key: str, what: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path, env={})
    message = str(error.value)
    assert message.startswith(key), message
    assert what in message
    assert "\n" not in message


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("this is = = not toml", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.toml", env={})


def test_check_config_command_names_the_key_and_exits_2(cli, tmp_path: Path) -> None:
    good = cli("check-config", "--config", str(EXAMPLE))
    assert good.returncode == 0 and "configuration OK" in good.stdout
    assert "profile desknet" in good.stdout and "09:00-12:00, 13:00-17:30" in good.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[profiles.helpdesk]\nlicense_cutoff = "25:00"\n', encoding="utf-8")
    result = cli("check-config", "--config", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "uketsuke: profiles.helpdesk.license_cutoff: invalid time '25:00' (expected HH:MM)\n"
    )


def test_r30_every_problem_is_listed_one_line_each(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[smtp]\nport = 70000\nprot = 25\n[web]\nport = "x"\n'
        '[profiles.helpdesk]\nlicense_cutoff = "25:00"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as error:
        load_config(path, env={})
    assert error.value.problems == [
        "smtp.prot: Extra inputs are not permitted",
        "smtp.port: Input should be less than or equal to 65535",
        "web.port: Input should be a valid integer",
        "profiles.helpdesk.license_cutoff: invalid time '25:00' (expected HH:MM)",
    ]
    assert str(error.value) == (
        "smtp.prot: Extra inputs are not permitted (and 3 more: `uketsuke check-config` lists them)"
    )


IMAP = 'name = "support-inbox"\nhost = "imap.example.jp"\nusername = "support@example.jp"\n'


def test_r7_imap_mailbox_of_an_unknown_profile_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[[imap]]\n{IMAP}profile = "helpdsk"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path, env={})
    assert error.value.problems == [
        "imap.0.profile: unknown profile 'helpdsk' for support-inbox (known: desknet, helpdesk)"
    ]


def test_r11_fax_gateway_of_an_unknown_profile_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[[fax_gateways]]\nname = "gw"\nsender_addresses = ["fax@gw.example.jp"]\n'
        'profile = "nosuch"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"^fax_gateways\.0\.profile: unknown profile"):
        load_config(path, env={})


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("imap.example.jp", False),
        ("192.0.2.10", False),
        ("127.0.0.1.example.jp", False),
    ],
)
def test_r7_plain_imap_only_to_a_loopback_host(tmp_path: Path, host: str, allowed: bool) -> None:
    assert is_loopback(host) is allowed
    path = tmp_path / "c.toml"
    text = IMAP.replace("imap.example.jp", host)
    path.write_text(f'[[imap]]\n{text}security = "plain"\n', encoding="utf-8")
    if allowed:
        assert load_config(path, env={}).imap[0].security == "plain"
        return
    with pytest.raises(ConfigError) as error:
        load_config(path, env={})
    assert error.value.problems[0].startswith('imap.0.security: "plain" sends the password')
    assert repr(host) in error.value.problems[0]


def test_imap_names_are_unique(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"[[imap]]\n{IMAP}[[imap]]\n{IMAP}", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^imap\.1\.name: a second mailbox named"):
        load_config(path, env={})


@pytest.mark.parametrize(
    ("name", "variable"),
    [
        ("support-inbox", "UKETSUKE_IMAP_PASSWORD_SUPPORT_INBOX"),
        ("neo.support", "UKETSUKE_IMAP_PASSWORD_NEO_SUPPORT"),
        ("Main_2", "UKETSUKE_IMAP_PASSWORD_MAIN_2"),
    ],
)
def test_imap_password_variable(name: str, variable: str) -> None:
    mailbox = ImapConfig(name=name, host="imap.example.jp", username="u")
    assert mailbox.password_variable == variable
    assert mailbox.secret({variable: "pw"}) == "pw"
    assert mailbox.missing_password({variable: "pw"}) is None
    assert mailbox.missing_password({}) == variable
    assert mailbox.model_copy(update={"password": "in-file"}).missing_password({}) is None


def test_missing_imap_passwords_are_named() -> None:
    config = load_config(None, env={}).model_copy(
        update={"imap": [ImapConfig(name="support-inbox", host="h", username="u")]}
    )
    assert config.missing_secrets({}) == [
        "imap.0.password: empty, and UKETSUKE_IMAP_PASSWORD_SUPPORT_INBOX is not set "
        "(mailbox support-inbox cannot log in)"
    ]
    assert config.missing_secrets({"UKETSUKE_IMAP_PASSWORD_SUPPORT_INBOX": "pw"}) == []


def test_models_check_on_construction_and_copy() -> None:
    with pytest.raises(ConfigError, match=r"^port: Input should be less than or equal to 65535"):
        SmtpConfig(port=70000)
    with pytest.raises(ConfigError, match=r"^max_message_size: "):
        SmtpConfig().model_copy(update={"max_message_size": 1})
    with pytest.raises(AttributeError):
        SmtpConfig().port = 25  # type: ignore[misc]
    assert SmtpConfig(port="2626").port == 2626  # type: ignore[arg-type]  # from the environment


def test_configuration_crosses_to_the_parse_worker_process() -> None:
    """The processor hands the configuration to a spawned process: it pickles, calendar too."""
    config = load_config(None, env={})
    config.profile("helpdesk").calendar()
    again = pickle.loads(pickle.dumps(config))
    assert again == config
    assert again.profile("helpdesk").calendar() == config.profile("helpdesk").calendar()


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("", "var/uketsuke.db"),
        ("sqlite:////srv/uk/u.db", "/srv/uk/u.db"),
        ("sqlite+pysqlite:///rel/u.db?timeout=5", "rel/u.db"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("postgresql+psycopg://u:p@db/x", None),
    ],
)
def test_sqlite_path(url: str, path: str | None) -> None:
    config = load_config(None, env={"UKETSUKE_DATABASE_URL": url} if url else {})
    assert config.sqlite_path == (Path(path) if path else None)
