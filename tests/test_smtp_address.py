"""The SMTP door's address parse (intake.channels.smtpaddr) answers as aiosmtpd's own does."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiosmtpd.smtp import SMTP

from intake.channels.smtp import IntakeSMTP
from intake.channels.smtpaddr import parse_address

TEXTS = [
    "",
    "<>",
    "<support@example.jp>",
    "<support@example.jp> SIZE=1000 BODY=8BITMIME",
    "support@example.jp",
    "support@example.jp SIZE=10",
    " <yamada@example.co.jp>",
    '<"quoted local"@example.jp>',
    "<a@[127.0.0.1]>",
    "<@relay.example:user@example.jp>",
    "<no-at-sign>",
    "<unclosed@example.jp",
    "<<nested@example.jp>>",
    "<user@example.jp",
    "not an address at all",
    "<ユーザー@例え.jp>",
    "<" + "a" * 70 + "@example.jp>",
    "<user@example.jp> " + "X" * 500,
]


@pytest.mark.parametrize("limit", [0, 64])
@pytest.mark.parametrize("text", TEXTS)
def test_r7_command_addresses_parse_as_aiosmtpd_parses_them(text: str, limit: int) -> None:
    theirs = SMTP._getaddr(SimpleNamespace(local_part_limit=limit), text)  # type: ignore[arg-type]
    ours = IntakeSMTP._getaddr(SimpleNamespace(local_part_limit=limit), text)  # type: ignore[arg-type]
    assert ours == theirs
    assert IntakeSMTP._getaddr(SimpleNamespace(local_part_limit=limit), text) == theirs  # cached


def test_r7_a_remembered_parse_is_the_first_parse() -> None:
    parse_address.cache_clear()
    first = parse_address("<support@example.jp>")
    assert parse_address("<support@example.jp>") == first == ("support@example.jp", "")
    assert parse_address.cache_info().hits == 1
