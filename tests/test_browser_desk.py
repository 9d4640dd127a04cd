"""The desk in a real browser against the real daemon: two staff members, each in their own
Chromium context, on one incident. 返信を作成 by one is shown to the other, and the other's answer,
opened before the first answer went out, is refused with the text kept (no double answers).

Debian's Chromium (Playwright) and one ``uketsuke run`` subprocess on SQLite; mail goes into the
daemon's Maildir (the outbox rows are read from the database).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from intake import db
from intake.models import Incident, OutboxMail
from scheduler.calendar import to_tokyo
from tests.browser import DESKTOP, Visit, chromium
from tests.daemon import free_port
from tests.test_browser import WebDaemon

STAFF = {"sato@example.jp": "佐藤 花子", "suzuki@example.jp": "鈴木 一郎"}
PASSWORD = "kantan-janai-pass-2026"


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebDaemon, Any, int]]:
    """The running daemon, its sessions and the one incident (a phone inquiry)."""
    home = tmp_path_factory.mktemp("desk")
    web_port = free_port()
    config = home / "uketsuke.toml"
    config.write_text(f"[web]\nport = {web_port}\n", encoding="utf-8")
    database_url = f"sqlite:///{home / 'uketsuke.db'}"
    daemon = WebDaemon(home, database_url, config=config, web_port=web_port)
    registry = home / "customers.csv"
    registry.write_text(
        "customer_number,company,domains,contact_emails,profile,order_accepted\n"
        "C0200-0001,ヘルプ工業株式会社,help.example.jp,soumu@help.example.jp,,\n",
        encoding="utf-8",
    )
    commands: list[tuple[tuple[str, ...], str | None]] = [
        (("migrate",), None),
        (("customers", "import", str(registry)), None),
    ]
    for email, name in STAFF.items():
        commands += [(("staff", "add", name, email), None), (("staff", "passwd", email), PASSWORD)]
    commands.append(
        (
            (
                "incidents",
                "new",
                "--customer",
                "C0200-0001",
                "--name",
                "総務",
                "--text",
                "印刷不可",
            ),
            None,
        )
    )
    engine = db.make_engine(database_url)
    try:
        for command, password in commands:
            done = daemon.run(*command, input=f"{password}\n" if password else None)
            assert done.returncode == 0, f"{command}: {done.stderr}"
        daemon.start()
        yield daemon, db.session_factory(engine), 1
    finally:
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.terminate()
        daemon.close()
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


def _open(browser: Any, daemon: WebDaemon, email: str, folder: Path) -> Visit:
    visit = Visit.open(browser, DESKTOP, folder)
    page = visit.page
    page.goto(f"http://127.0.0.1:{daemon.web_port}/staff/login")
    page.get_by_label("メールアドレス").fill(email)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page.get_by_role("button", name="ログアウト")).to_be_visible()
    return visit


def test_desk_draft_claim_is_shown_and_a_stale_answer_is_refused_with_its_text_kept(
    browser: Any, desk: tuple[WebDaemon, Any, int], tmp_path: Path
) -> None:
    daemon, sessions, number = desk
    sato = _open(browser, daemon, "sato@example.jp", tmp_path / "sato")
    suzuki = _open(browser, daemon, "suzuki@example.jp", tmp_path / "suzuki")
    url = f"http://127.0.0.1:{daemon.web_port}/staff/incidents/{number}"
    try:
        sato.page.goto(url)
        sato.page.get_by_role("button", name="返信を作成").click()
        expect(sato.page.locator("#own-draft")).to_contain_text("あなたが返信を作成中です")
        with sessions() as session:
            since = session.get(Incident, number).draft_at
        suzuki.page.goto(url)  # 鈴木 opens the incident while 佐藤 writes
        assert since is not None
        expect(suzuki.page.locator("#draft-notice")).to_have_text(
            f"佐藤 花子さんが返信を作成中（{to_tokyo(since):%H:%M}から）"
        )
        suzuki.shot("draft-claim")
        answer_of = {
            name: visit.page.get_by_role("region", name=re.compile("^回答する"))
            for name, visit in (("sato", sato), ("suzuki", suzuki))
        }
        mine = "鈴木です。ドライバを入れ直してください。"
        answer_of["suzuki"].get_by_label("回答", exact=True).fill(mine)
        answer_of["sato"].get_by_label("回答", exact=True).fill(
            "佐藤です。電源を入れ直してください。"
        )
        answer_of["sato"].get_by_role("button", name="送信する").click()
        expect(sato.page.locator("pre.body").filter(has_text="電源を入れ直して")).to_be_visible()
        suzuki.allow(r"status of 400")  # the refused answer's page
        answer_of["suzuki"].get_by_role("button", name="送信する").click()
        error = suzuki.page.locator("#action-error")
        expect(error).to_contain_text("佐藤 花子さんが")
        expect(error).to_contain_text("電源を入れ直してください")
        expect(suzuki.page.get_by_label("回答", exact=True)).to_have_value(mine)
        suzuki.shot("stale-refused")
        with sessions() as session:
            answers = session.scalars(select(OutboxMail).where(OutboxMail.kind == "answer")).all()
            assert len(answers) == 1
            assert session.get(Incident, number).assignee == "sato@example.jp"
        assert not sato.errors and not suzuki.errors, sato.errors + suzuki.errors
    finally:
        sato.close()
        suzuki.close()
