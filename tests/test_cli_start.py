"""Start-up of the command line, checked without a clock: what it imports.

The commands that need no daemon must not load its stack (bench/cli_start.py measures the time;
these tests fail, deterministically, when an import at the top of a command module brings it
back).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from intake.cli import COMMANDS, build_parser, modules_for

HEAVY = ("sqlalchemy", "alembic", "aiosmtpd", "flask", "imapclient", "apscheduler", "pydantic")
LIGHT_COMMANDS = [
    ["calendar", "--profile", "desknet", "license-due", "2026-11-24T17:00:01"],
    ["support-period", "--accepted", "2026-11-22"],
    ["parse", "-"],
    ["check-config"],
]
MAIL = b"From: a@example.jp\r\nTo: support@example.jp\r\nSubject: x\r\n\r\nhello\r\n"


def loaded_after(code: str, stdin: bytes = b"") -> list[str]:
    """The heavy top-level packages in sys.modules after running ``code`` in a fresh process."""
    probe = (
        "import sys, json\n"
        f"{code}\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})),"
        " file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], input=stdin, capture_output=True, timeout=60, check=False
    )
    assert proc.returncode in (0, 2), proc.stderr.decode()
    return json.loads(proc.stderr.decode().strip().splitlines()[-1])


@pytest.mark.parametrize("argv", LIGHT_COMMANDS, ids=lambda argv: argv[0])
def test_light_commands_run_without_the_daemon_stack(argv: list[str]) -> None:
    code = f"from intake.cli import main\nmain({argv!r})"
    assert loaded_after(code, stdin=MAIL) == []


@pytest.mark.parametrize("argv", LIGHT_COMMANDS, ids=lambda argv: argv[0])
def test_parser_of_a_light_command_imports_only_light_modules(argv: list[str]) -> None:
    assert loaded_after(f"import intake.cli\nintake.cli.build_parser({argv!r})") == []


def test_import_of_the_command_line_is_light() -> None:
    assert loaded_after("import intake.cli, intake.cli.common") == []


def test_full_parser_for_help_imports_none_of_the_daemon_stack() -> None:
    assert loaded_after("import intake.cli\nintake.cli.build_parser()") == []


def test_command_table_is_exactly_what_the_modules_register() -> None:
    """COMMANDS only makes a run import less: it must name each module's commands exactly."""
    for module, names in COMMANDS.items():
        parser = build_parser([names[0]])
        [action] = [a for a in parser._actions if a.dest == "command"]
        assert tuple(action.choices) == names, module  # type: ignore[attr-defined]
    whole = build_parser()
    [action] = [a for a in whole._actions if a.dest == "command"]
    assert sorted(action.choices) == sorted(n for names in COMMANDS.values() for n in names)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["calendar", "is-open", "x"], ("intake.cli.timecmds",)),
        (["--debug", "parse", "-"], ("intake.cli.mailcmds",)),
        (["--help"], tuple(COMMANDS)),
        (["-h", "calendar"], tuple(COMMANDS)),
        (["nosuch"], tuple(COMMANDS)),
        ([], tuple(COMMANDS)),
    ],
)
def test_modules_for(argv: list[str], expected: tuple[str, ...]) -> None:
    assert modules_for(argv) == expected
