"""The README's command-line list, and the SMTP reply table and IMAP password variables of the
docs, say what the code does (R30); the links of the README and the docs lead somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from intake.channels import smtp
from intake.cli import build_parser
from intake.config import ImapConfig

ROOT = Path(__file__).resolve().parents[1]


def read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


README = read("README.md")
OPERATIONS = read("docs/operations.md")  # the SMTP reply table
CONFIGURATION = read("docs/configuration.md")  # every key, the IMAP password variables
# The files whose links are checked: the README and the docs written with it (docs/rules.md and
# others have their own authors).
LINKED = (
    "README.md",
    "docs/operations.md",
    "docs/staff.md",
    "docs/configuration.md",
    "docs/benchmarks.md",
)


def section(title: str, text: str | None = None) -> str:
    text = README if text is None else text
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


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
    assert f"| `{reply}` |" in section("Pointing real mail at it", OPERATIONS)


def test_smtp_table_has_no_reply_the_door_never_gives() -> None:
    start = OPERATIONS.index("### SMTP replies")
    table = OPERATIONS[start : OPERATIONS.index("\n\n", OPERATIONS.index("| reply |", start))]
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
    assert f"`{name}` → `{variable}`" in section("IMAP mailboxes", CONFIGURATION)


def test_readme_states_the_two_commands() -> None:
    commands = section("The two commands")
    assert "\nmake run " in commands
    assert "\nmake test " in commands


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors: the heading lower-cased, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return {
        re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        for title in re.findall(r"^#{1,6} (.+)$", text, re.M)
    }


@pytest.mark.parametrize("name", LINKED)
def test_relative_links_lead_to_files_and_headings_that_exist(name: str) -> None:
    text = read(name)
    folder = (ROOT / name).parent
    prose = re.sub(r"^ *```.*?^ *```", "", text, flags=re.S | re.M)
    links = re.findall(r"\]\(([^)\s]+)\)", prose)
    assert links
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue
        path, _, anchor = link.partition("#")
        target = (folder / path).resolve() if path else ROOT / name
        assert target.exists(), f"{name}: {link}"
        assert ROOT in target.parents or target == ROOT, f"{name}: {link} leaves the repository"
        if anchor:
            assert target.suffix == ".md", f"{name}: {link}"
            assert anchor in heading_anchors(target.read_text(encoding="utf-8")), f"{name}: {link}"


@pytest.mark.parametrize("name", LINKED)
def test_docs_cite_only_the_repository(name: str) -> None:
    """A clone has no ../shared notes, design principles, style guide or specification to cite:
    the README and the docs point at docs/rules.md instead."""
    text = read(name)
    for cited in (r"\.\./shared", r"\bDESIGN\b", r"\bSTYLE \d", r"\bSPEC\b"):
        assert not re.search(cited, text), f"{name}: {cited}"
