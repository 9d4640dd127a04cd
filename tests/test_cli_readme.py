"""The README's command-line list and SMTP reply table say what the code does (R30)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from intake.channels import smtp
from intake.cli import build_parser
from intake.config import ImapConfig

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end]


def test_command_line_list_names_every_command() -> None:
    [listing] = re.findall(r"```\n(uketsuke .*?)```", section("Command line"), re.S)
    listed = set()
    for line in listing.splitlines():
        words = line.split()
        listed |= {words[1], words[3]} if words[2] == "|" else {words[1]}  # init-db | migrate
    [action] = [a for a in build_parser()._actions if a.dest == "command"]
    assert set(action.choices) == listed  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "reply",
    [
        smtp.REPLY_NO_RELAY,
        smtp.REPLY_TOO_BIG,
        smtp.REPLY_STORAGE_FAILED,
        smtp.REPLY_INTERNAL,
        smtp.REPLY_BAD_ADDRESS,
        smtp.REPLY_BAD_SENDER,
        "553 5.1.3 Error: malformed address",  # aiosmtpd's, for an address it cannot parse
    ],
)
def test_r30_smtp_reply_table_quotes_the_door(reply: str) -> None:
    assert f"| `{reply}` |" in README


def test_smtp_table_has_no_reply_the_door_never_gives() -> None:
    start = README.index("### SMTP replies")
    table = README[start : README.index("\n\n", README.index("| reply |", start))]
    quoted = re.findall(r"^\| `([^`]+)` \|", table, re.M)
    given = {
        value.split(" ", 2)[0] + " " + value.split(" ", 2)[1]
        for name, value in vars(smtp).items()
        if name.startswith("REPLY_")
    } | {"553 5.1.3"}
    for reply in quoted:
        assert " ".join(reply.split()[:2]) in given, reply


@pytest.mark.parametrize("name", ["support-inbox", "neo.support"])
def test_imap_password_variable_as_documented(name: str) -> None:
    variable = ImapConfig(name=name, host="h", username="u").password_variable
    assert f"`{name}` → `{variable}`" in section("Configuration")
