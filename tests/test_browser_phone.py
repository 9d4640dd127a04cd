"""The incident page on a phone (headless Chromium, a 375 px viewport): the thread comes first,
above every form staff act with, so a member reads what the customer wrote without scrolling past
the actions. The dashboard is served by werkzeug from the app the daemon runs, on real SQLite."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from intake.web import create_app
from tests.browser import DESKTOP, PHONE, Device, Visit, chromium
from tests.test_web_staff import (  # noqa: F401 - fixtures
    OPEN,
    PASSWORD,
    STAFF,
    Clock,
    config,
    desk,
    key_mail,
    receive,
)

pytestmark = pytest.mark.db
# Where an element's top is on the page (document coordinates).
TOP = "(element) => element.getBoundingClientRect().top + window.scrollY"


@pytest.fixture
def served(config, desk) -> Iterator[tuple[str, int]]:  # noqa: F811
    """The dashboard on a free port; an incident with a thread and a scheduled key mail (its
    hold form sits in the page's first column)."""
    [number] = receive(config, desk, "印刷できません。\n" * 5)
    with desk.begin() as session:
        session.add(key_mail(number))
    server = make_server("127.0.0.1", 0, create_app(config, desk, Clock(OPEN)), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", number
    finally:
        server.shutdown()


def tops(browser: Any, device: Device, served: tuple[str, int], folder: Any) -> dict[str, float]:
    base, number = served
    visit = Visit.open(browser, device, folder)
    try:
        page = visit.page
        page.goto(f"{base}/staff/login")
        page.get_by_label("メールアドレス").fill(STAFF)
        page.get_by_label("パスワード").fill(PASSWORD)
        page.get_by_role("button", name="ログイン", exact=True).click()
        page.goto(f"{base}/staff/incidents/{number}")
        visit.shot("incident")
        forms = page.locator("main form[method=post]")
        assert forms.count() > 5
        return {
            "thread": page.locator("#h-thread").evaluate(TOP),
            "first_form": min(forms.nth(i).evaluate(TOP) for i in range(forms.count())),
            "actions": page.locator(".actions-grid").evaluate(TOP),
        }
    finally:
        visit.close()
        assert visit.errors == []


def test_incident_page_on_a_phone_puts_the_thread_above_every_action_form(
    served, tmp_path
) -> None:
    with chromium() as browser:
        phone = tops(browser, PHONE, served, tmp_path)
        desktop = tops(browser, DESKTOP, served, tmp_path)
    assert phone["thread"] < phone["first_form"], phone
    assert phone["thread"] < phone["actions"], phone
    # On a desktop the actions stay beside the thread, at the top of their column.
    assert desktop["actions"] < desktop["thread"], desktop
