"""Configuration: one schema, documented defaults, key-naming errors (R9, R13, R14 values)."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from intake.config import ConfigError, load_config
from scheduler.calendar import TOKYO

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "deploy" / "uketsuke.example.toml"


def test_example_file_is_exactly_the_builtin_defaults() -> None:
    assert load_config(EXAMPLE, env={}) == load_config(None, env={})


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
    from datetime import datetime

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
