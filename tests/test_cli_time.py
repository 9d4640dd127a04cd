"""The time rules as a user runs them: ``uketsuke calendar`` and ``uketsuke support-period``."""

from __future__ import annotations

import json

import pytest

from intake.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


@pytest.mark.parametrize(
    ("profile", "command", "when", "expected"),
    [
        # R9: lunch break and closing minute, both profiles
        ("helpdesk", "is-open", "2026-11-24T12:00:00", "true"),
        ("helpdesk", "is-open", "2026-11-24T12:00:01", "false"),
        ("helpdesk", "is-open", "2026-11-24T09:59:59", "false"),
        ("helpdesk", "is-open", "2026-11-24T17:00:01", "false"),
        ("desknet", "is-open", "2026-11-24T09:00:00", "true"),
        ("desknet", "is-open", "2026-11-24T17:30:00", "true"),
        ("desknet", "is-open", "2026-11-24T17:30:01", "false"),
        # R12: 勤労感謝の日 (Mon 2026-11-23), 国民の休日 2026-09-22, year end, weekend
        ("helpdesk", "business-day", "2026-11-23", "false"),
        ("helpdesk", "business-day", "2026-09-22", "false"),
        ("helpdesk", "business-day", "2026-12-29", "false"),
        ("helpdesk", "business-day", "2026-11-28", "false"),
        ("helpdesk", "business-day", "2026-11-24", "true"),
        # R12: UTC input is judged in Tokyo (01:00Z = 10:00 JST)
        ("helpdesk", "is-open", "2026-11-24T01:00:00Z", "true"),
        ("helpdesk", "next-open", "2026-11-24T00:59:59+00:00", "2026-11-24T10:00:00+09:00"),
        ("helpdesk", "next-open", "2026-11-24T10:30:00", "2026-11-24T10:30:00+09:00"),
        ("helpdesk", "next-open", "2026-11-24T12:30:00", "2026-11-24T13:00:00+09:00"),
        ("helpdesk", "next-open", "2026-12-28T17:30:00", "2027-01-04T10:00:00+09:00"),
        # R14: the cutoff is inclusive; after it, the next business day's opening
        ("desknet", "license-due", "2026-11-24T17:00:00", "2026-11-24T17:00:00+09:00"),
        ("desknet", "license-due", "2026-11-24T17:00:01", "2026-11-25T09:00:00+09:00"),
        ("desknet", "license-due", "2026-11-24T07:00:00", "2026-11-24T09:00:00+09:00"),
        ("desknet", "license-due", "2026-11-27T17:10:00", "2026-11-30T09:00:00+09:00"),
        ("desknet", "license-due", "2026-11-22T11:00:00", "2026-11-24T09:00:00+09:00"),
    ],
)
def test_r9_r12_r14_calendar_command(capsys, profile, command, when, expected) -> None:
    assert run(capsys, "calendar", "--profile", profile, command, when) == (0, expected, "")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--accepted", "2026-11-22"],
            {
                "kind": "re-continuation",
                "coverage_from": "2026-11-22",
                "start": "2026-12-01",
                "end": "2027-11-30",
            },
        ),
        (
            ["--accepted", "2026-12-01"],
            {
                "kind": "re-continuation",
                "coverage_from": "2026-12-01",
                "start": "2026-12-01",
                "end": "2027-11-30",
            },
        ),
        (
            ["--accepted", "2027-02-10", "--previous-end", "2027-03-31"],
            {
                "kind": "renewal",
                "coverage_from": "2027-04-01",
                "start": "2027-04-01",
                "end": "2028-03-31",
            },
        ),
        (
            ["--accepted", "2027-03-31", "--previous-end", "2027-03-31"],
            {
                "kind": "renewal",
                "coverage_from": "2027-04-01",
                "start": "2027-04-01",
                "end": "2028-03-31",
            },
        ),
        (
            ["--accepted", "2027-05-15", "--previous-end", "2027-03-31"],
            {
                "kind": "renewal",
                "coverage_from": "2027-06-01",
                "start": "2027-06-01",
                "end": "2028-05-31",
            },
        ),
        (
            ["--accepted", "2028-03-31", "--previous-end", "2027-03-31"],
            {
                "kind": "renewal",
                "coverage_from": "2028-04-01",
                "start": "2028-04-01",
                "end": "2029-03-31",
            },
        ),
        (
            ["--accepted", "2028-04-01", "--previous-end", "2027-03-31"],
            {
                "kind": "re-continuation",
                "coverage_from": "2028-04-01",
                "start": "2028-04-01",
                "end": "2029-03-31",
            },
        ),
        (
            ["--accepted", "2028-02-10", "--previous-end", "2028-02-28"],
            {
                "kind": "renewal",
                "coverage_from": "2028-02-29",
                "start": "2028-02-29",
                "end": "2029-02-28",
            },
        ),
        (
            ["--added", "2027-01-15", "--current-end", "2027-11-30"],
            {
                "kind": "added-license",
                "coverage_from": "2027-01-15",
                "start": "2027-01-15",
                "end": "2027-11-30",
            },
        ),
    ],
)
def test_r24_support_period_command(capsys, args, expected) -> None:
    code, out, err = run(capsys, "support-period", *args)
    assert (code, err) == (0, "")
    assert json.loads(out) == expected


@pytest.mark.parametrize(
    "args",
    [
        ["calendar", "--profile", "nosuch", "is-open", "2026-11-24T10:00"],
        ["calendar", "--profile", "helpdesk", "is-open", "yesterday"],
        ["calendar", "--profile", "helpdesk", "business-day", "2026-13-01"],
        ["calendar", "--profile", "helpdesk", "tomorrow", "2026-11-24"],
        ["support-period", "--accepted", "2026/11/22"],
        ["support-period", "--added", "2028-01-01", "--current-end", "2027-11-30"],
        ["support-period", "--added", "2027-01-01"],
        ["support-period"],
    ],
)
def test_r30_bad_input_is_one_line_exit_2(capsys, args) -> None:
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse usage errors exit from inside parse_args
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("uketsuke"), err
    assert "Traceback" not in err


def test_r14_cli_as_a_user_runs_it(cli) -> None:
    result = cli("calendar", "--profile", "desknet", "license-due", "2026-11-24T17:00:01+09:00")
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "2026-11-25T09:00:00+09:00\n",
        "",
    )
    bad = cli("calendar", "--profile", "nosuch", "is-open", "2026-11-24T10:00")
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "unknown profile" in bad.stderr


def test_r12_cli_in_another_server_timezone(cli) -> None:
    import subprocess

    from tests.conftest import UKETSUKE

    env = dict(cli.env, TZ="America/New_York")
    out = subprocess.run(
        [str(UKETSUKE), "calendar", "--profile", "helpdesk", "next-open", "2026-11-24T09:00"],
        capture_output=True,
        env=env,
        text=True,
        check=True,
    ).stdout
    assert out == "2026-11-24T10:00:00+09:00\n"
