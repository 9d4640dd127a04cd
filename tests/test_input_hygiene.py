"""Input hygiene (issue 15): what a customer types and what the command line prints.

R30: a line or paragraph separator (U+2028, U+2029, NEL) or another control character in a web
form field is a field error on the confirm step, with everything typed kept, never a 500 on 送信.
R26: the command line's text output carries no terminal escapes, whoever wrote the value (a
failed login's address, a customer's subject), and its JSON output none either.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from intake.config import load_config
from intake.models import IncidentMessage, RawMessage
from intake.web import create_app
from tests.test_web_form import FIELDS, OPEN, Clock, inquiry, token

FIELD_ERROR = "改行や制御文字は使えません。"
TEXT_ERROR = (
    "使用できない文字（目に見えない制御文字など）が含まれています。"
    "文章を貼り付けた場合は、改行を入れ直してください。"
)
# What may never reach an operator's terminal: C0 but the line break of a multi-line value, DEL,
# C1 (NEL, CSI …), the bidi embeddings, overrides and isolates, and the Unicode line separators.
UNSAFE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
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
