"""Input hygiene (issue 15): what a customer types and what the command line prints.

R30: a line or paragraph separator (U+2028, U+2029, NEL) or another control character in a web
form field is a field error on the confirm step, with everything typed kept, never a 500 on 送信.
R26: the command line's text output carries no terminal escapes, whoever wrote the value (a
failed login's address, a customer's subject), and its JSON output none either.
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from intake.config import load_config
from intake.models import AuditEntry, Incident, IncidentMessage, OutboxMail, RawMessage, StaffUser
from intake.web import create_app
from tests.conftest import Cli
from tests.test_web_form import FIELDS, OPEN, Clock, inquiry, token

FIELD_ERROR = "改行や制御文字は使えません。"
TEXT_ERROR = (
    "使用できない文字（目に見えない制御文字など）が含まれています。"
    "文章を貼り付けた場合は、改行を入れ直してください。"
)
# What may never reach an operator's terminal: C0 but the line break and tab of a multi-line value,
# DEL, C1 (NEL, CSI …), the bidi embeddings, overrides and isolates, the Unicode line separators.
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
SEPARATORS = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1e"]


@pytest.fixture
def config(tmp_path):
    return load_config(None, env={"UKETSUKE_HOME": str(tmp_path / "home")})


@pytest.fixture
def client(config, sessions):
    """The customer forms through Flask's test client, as tests/test_web_form.py drives them."""
    return create_app(config, sessions, Clock(OPEN)).test_client()


def error_of(page: str, field: str) -> str:
    """The error shown next to ``field`` (its ``FIELD-error`` element), or ""."""
    match = re.search(rf'id="{re.escape(field)}-error" role="alert">([^<]*)<', page)
    return match.group(1) if match else ""


def stored(sessions) -> list[RawMessage]:
    with sessions() as session:
        return list(session.scalars(select(RawMessage)))


# --- R30: the web forms ------------------------------------------------------------------------


@pytest.mark.parametrize("char", SEPARATORS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("field", ["subject", "company", "items-0"])
def test_r30_line_separator_in_a_form_field_is_a_field_error(
    client, sessions, field: str, char: str
) -> None:
    error = TEXT_ERROR if field.startswith("items-") else FIELD_ERROR
    typed = f"印刷{char}できない"
    data = inquiry(client, **{field: typed, "action": "confirm"})
    confirm = client.post("/helpdesk/inquiry", data=data)
    assert confirm.status_code == 200
    assert "入力内容の確認" not in confirm.text  # the form again, not the confirmation
    assert error_of(confirm.text, field) == error
    assert f'aria-describedby="{field}-error"' in confirm.text
    assert "入力内容を確認してください。" in confirm.text  # the summary above the form
    # Everything typed is kept, the refused value too (the customer corrects it in place).
    assert typed in confirm.text
    for name, value in FIELDS.items():
        if name != field:
            assert f'value="{value}"' in confirm.text
    if field != "items-0":
        assert "印刷ボタンを押しても何も起きません。" in confirm.text
    # 送信 with the same data (a resubmitted page) is the same field error, never a 500.
    data["action"] = "send"
    send = client.post("/helpdesk/inquiry", data=data)
    assert send.status_code == 200 and error_of(send.text, field) == error
    assert stored(sessions) == []


def test_r30_line_separator_in_the_license_form_is_a_field_error(client, sessions) -> None:
    path = "/helpdesk/license"
    data = {
        "csrf_token": token(client, path),
        **FIELDS,
        "product": "受付サーバー\u2028Pro",
        "reason": "server_change",
        "new_server": "ホスト名: srv02\u2029OS: AlmaLinux 9",
        "action": "confirm",
    }
    page = client.post(path, data=data)
    assert page.status_code == 200
    assert error_of(page.text, "product") == FIELD_ERROR
    assert error_of(page.text, "new_server") == TEXT_ERROR
    assert "受付サーバー\u2028Pro" in page.text and "OS: AlmaLinux 9" in page.text
    data["action"] = "send"
    send = client.post(path, data=data)
    assert send.status_code == 200 and error_of(send.text, "product") == FIELD_ERROR
    assert stored(sessions) == []


def test_r30_line_breaks_and_tabs_stay_allowed_in_multi_line_fields(client, sessions) -> None:
    body = "一行目\r\n二行目\n\t字下げした三行目"
    data = inquiry(client, **{"items-0": body, "action": "confirm"})
    confirm = client.post("/helpdesk/inquiry", data=data)
    assert "入力内容の確認" in confirm.text and error_of(confirm.text, "items-0") == ""
    data["action"] = "send"
    done = client.post("/helpdesk/inquiry", data=data)
    assert done.status_code == 200 and re.search(r'incident-number">\[#\d+\]', done.text)
    [raw] = stored(sessions)
    with sessions() as session:
        [message] = session.scalars(
            select(IncidentMessage).where(IncidentMessage.raw_message_id == raw.id)
        )
        assert "二行目" in message.body and "\t字下げした三行目" in message.body


# --- R26: what the command line prints ---------------------------------------------------------

ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202egpj.exe\u2066"


def visible(text: str) -> bool:
    return UNSAFE.search(text) is None


def test_r26_cli_prints_no_terminal_escapes(cli: Cli, config, sessions) -> None:
    """A failed login's address is written to the audit log as typed; ``audit list`` (text and
    JSON) prints it neutralised, one line per entry whatever the address holds."""
    web = create_app(config, sessions, Clock(OPEN)).test_client()
    address = f"x{ESCAPES}@example.jp\nforged line"
    page = web.get("/staff/login")
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    answer = web.post(
        "/staff/login", data={"csrf_token": csrf, "email": address, "password": "wrong password"}
    )
    assert answer.status_code == 200
    with sessions() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "login_failed"))
        assert "\x1b" in entry.target  # stored as typed: the log keeps the evidence

    text = cli("audit", "list")
    assert text.returncode == 0, text.stderr
    assert visible(text.stdout), repr(text.stdout)
    assert len(text.stdout.splitlines()) == 1  # no forged line
    assert "\\x1b]0;pwned\\x07" in text.stdout  # neutralised, not hidden: the operator sees it

    listing = cli("audit", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    assert visible(listing.stdout), repr(listing.stdout)
    [line] = listing.stdout.splitlines()
    assert json.loads(line)["target"] == entry.target  # JSON escapes, and loses nothing


def test_r26_incidents_outbox_and_staff_lists_print_no_terminal_escapes(cli: Cli, sessions) -> None:
    # The Subject's encoded word is 印刷, ESC [2J and U+202E (RFC 2047 hides them from a filter).
    head = b"Subject: =?utf-8?b?5Y2w5Yi3G1sySuKArg==?=\r\nTo: yamada@example.co.jp\r\n\r\nbody\r\n"
    with sessions.begin() as session:
        incident = Incident(
            profile="helpdesk",
            channel="smtp",
            subject=f"印刷{ESCAPES}",
            first_line=f"一行目{ESCAPES}\n偽の行",
            fields={"company": f"株式会社{ESCAPES}"},
            reply_address=f"x{ESCAPES}@example.co.jp",
        )
        session.add(incident)
        session.flush()
        session.add(
            IncidentMessage(
                incident_id=incident.id,
                direction="in",
                author=f"山田{ESCAPES}",
                body=f"一行目\n二行目{ESCAPES}\r\n\t三行目",
            )
        )
        session.add(
            OutboxMail(
                kind="ack",
                profile="helpdesk",
                incident_id=incident.id,
                message_id="<hygiene@example.jp>",
                recipients=[f"x{ESCAPES}@example.co.jp"],
                data=head,
                last_error=f"550 {ESCAPES}",
            )
        )
        session.add(StaffUser(email="sato@example.jp", name=f"佐藤{ESCAPES}", reply_secret="ab"))
    for command in (
        ("incidents", "list"),
        ("incidents", "show", str(incident.id)),
        ("outbox", "list"),
        ("staff", "list"),
    ):
        result = cli(*command)
        assert result.returncode == 0, (command, result.stderr)
        assert visible(result.stdout), (command, result.stdout)
        json_result = cli(*command, "--json")
        assert json_result.returncode == 0, (command, json_result.stderr)
        assert visible(json_result.stdout), (command, json_result.stdout)
    listing = cli("incidents", "list").stdout
    assert len(listing.splitlines()) == 1  # the first line's line break forges no row
    shown = cli("incidents", "show", str(incident.id)).stdout
    assert "一行目\n二行目" in shown and "\t三行目" in shown  # a body keeps its lines and tabs
    detail = json.loads(cli("incidents", "show", str(incident.id), "--json").stdout)
    assert detail["subject"] == f"印刷{ESCAPES}"  # JSON round-trips exactly


def test_r26_json_output_escapes_what_a_terminal_would_act_on(capsys) -> None:
    """json escapes C0 itself; DEL, C1, the bidi controls and U+2028/U+2029 it leaves as they
    are with ensure_ascii=False: print_json escapes them too, and the value reads back the same."""
    from intake.cli.common import print_json

    value = {"subject": f"印刷{ESCAPES}\x7f\u2028\u2029\x85", "会社": "株式会社サンプル商事"}
    print_json(value)
    out = capsys.readouterr().out
    assert visible(out) and out.count("\n") == 1, repr(out)
    assert "株式会社サンプル商事" in out  # Japanese stays readable
    assert json.loads(out) == value
