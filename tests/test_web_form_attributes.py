"""The form pages' inputs carry an attribute only when it has a value: never
``aria-describedby="None"`` or ``autocomplete="None"`` (screen readers announce the id "None")."""

from __future__ import annotations

import re

import pytest

from tests.test_web_form import client, clock, config, inquiry  # noqa: F401 - fixtures

pytestmark = pytest.mark.db
NONE_VALUE = re.compile(r'[\w-]+="None"')


def inputs(page: str) -> dict[str, str]:
    """Each input, textarea and select by its id."""
    return {
        m.group(2): m.group(0)
        for m in re.finditer(r'<(input|textarea|select)\b[^>]*\bid="([^"]+)"[^>]*>', page)
    }


@pytest.mark.parametrize("path", ["/helpdesk/inquiry", "/helpdesk/license", "/desknet/license"])
def test_r30_form_inputs_carry_no_attribute_valued_none(client, path) -> None:  # noqa: F811
    page = client.get(path)
    assert page.status_code == 200
    assert NONE_VALUE.findall(page.text) == []
    found = inputs(page.text)
    assert 'autocomplete="organization"' in found["company"]
    assert "aria-describedby" not in found["company"] and "autocomplete" not in found["domain"]


def test_r30_an_error_still_describes_its_input(client) -> None:  # noqa: F811
    data = inquiry(client, company="", **{"items-0": ""}, action="confirm")
    page = client.post("/helpdesk/inquiry", data=data).text
    assert NONE_VALUE.findall(page) == []
    found = inputs(page)
    assert 'aria-describedby="company-error"' in found["company"]
    assert 'aria-describedby="items-0-error"' in found["items-0"]
    assert "aria-describedby" not in found["subject"]
