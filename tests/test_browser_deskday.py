"""A day at the desk in a real browser against the real daemon (docs/staff.md, "A day at the
desk"): the morning list with its 担当 column and the 未割当 / 自分の担当 filters, taking an
incident, an answer held before sending (送信待ち, the seconds left, 送信取消), a colleague's
answer refused because someone answered first (the collision message, the text kept), and an
answer awaiting a senior's approval (承認待ち, 承認して送信).

One ``uketsuke run`` on SQLite with ``answer_hold_seconds = 600`` so that answers stay pending
while the pages are looked at; four staff members, each in their own Chromium context. The
screenshots are published as ``desk-*-<device>.png`` (``UKETSUKE_SCREENSHOTS=docs/screenshots``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from intake import db
from intake.labels import ja_short_time
from intake.models import Incident, IncidentMessage, OutboxMail
from tests.browser import DESKTOP, PHONE, Device, Visit, chromium
from tests.daemon import free_port
from tests.test_browser import WebDaemon

PASSWORD = "kantan-janai-pass-2026"
SATO, SUZUKI = "sato@example.jp", "suzuki@example.jp"
YAMADA, TAKAHASHI = "yamada@example.jp", "takahashi@example.jp"
STAFF: dict[str, tuple[str, tuple[str, ...]]] = {
    SATO: ("佐藤 花子", ()),
    SUZUKI: ("鈴木 一郎", ()),
    YAMADA: ("山田 太郎", ("--needs-approval",)),  # new at the desk: a senior checks the answers
    TAKAHASHI: ("高橋 恵子", ("--approver",)),
}
# The incidents of the morning, numbered 1.. in this order.
INQUIRIES = (
    ("C0300-0001", "総務", "年賀状ソフトで宛名が印刷できない"),  # 1: 鈴木's since yesterday
    ("C0300-0002", "情報システム", "共有フォルダに接続できない"),  # 2: 佐藤 takes it
    ("C0300-0003", "経理", "メールが送信できない"),  # 3: 鈴木 and 佐藤 both answer
    ("C0300-0001", "総務", "バックアップの設定を確認したい"),  # 4: 山田 answers, 高橋 approves
)
HOLD_SECONDS = 600


@dataclass
class Day:
    daemon: WebDaemon
    sessions: sessionmaker[Session]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.daemon.web_port}{path}"

    def answers(self, number: int) -> list[OutboxMail]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(OutboxMail)
                    .where(OutboxMail.kind == "answer", OutboxMail.incident_id == number)
                    .order_by(OutboxMail.id)
                )
            )


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Day]:
    home = tmp_path_factory.mktemp("deskday")
    web_port = free_port()
    config = home / "uketsuke.toml"
    config.write_text(
        f"[web]\nport = {web_port}\n"
        "[profiles.helpdesk]\n"
        f"answer_hold_seconds = {HOLD_SECONDS}\n",  # answers stay 送信待ち while looked at
        encoding="utf-8",
    )
    database_url = f"sqlite:///{home / 'uketsuke.db'}"
    daemon = WebDaemon(home, database_url, config=config, web_port=web_port)
    registry = home / "customers.csv"
    registry.write_text(
        "customer_number,company,domains,contact_emails,profile,order_accepted\n"
        "C0300-0001,ヘルプ工業株式会社,help.example.jp,soumu@help.example.jp,,\n"
        "C0300-0002,みなと商事株式会社,minato.example.jp,it@minato.example.jp,,\n"
        "C0300-0003,さくら会計事務所,sakura.example.jp,keiri@sakura.example.jp,,\n",
        encoding="utf-8",
    )
    commands: list[tuple[tuple[str, ...], str | None]] = [
        (("migrate",), None),
        (("customers", "import", str(registry)), None),
    ]
    for email, (name, options) in STAFF.items():
        commands += [
            (("staff", "add", *options, name, email), None),
            (("staff", "passwd", email), PASSWORD),
        ]
    for customer, name, text in INQUIRIES:
        commands.append(
            (("incidents", "new", "--customer", customer, "--name", name, "--text", text), None)
        )
    commands.append((("incidents", "assign", "1", SUZUKI), None))
    engine = db.make_engine(database_url)
    try:
        for command, password in commands:
            done = daemon.run(*command, input=f"{password}\n" if password else None)
            assert done.returncode == 0, f"{command}: {done.stderr}"
        daemon.start()
        yield Day(daemon, db.session_factory(engine))
    finally:
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.terminate()
        daemon.close()
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


def _login(browser: Any, day: Day, email: str, device: Device, folder: Path) -> Visit:
    visit = Visit.open(browser, device, folder / f"{email.split('@')[0]}-{device.name}")
    page = visit.page
    page.goto(day.url("/staff/login"))
    page.get_by_label("メールアドレス").fill(email)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page.get_by_role("button", name="ログアウト")).to_be_visible()
    return visit


def _row(page: Any, number: int) -> Any:
    """The list's row of incident ``number``."""
    return page.locator("tbody tr").filter(
        has=page.get_by_role("link", name=f"#{number}", exact=True)
    )


def _assignee_cell(page: Any, number: int) -> Any:
    return _row(page, number).locator('td[data-label="担当"]')


def _answer_form(page: Any) -> Any:
    return page.get_by_role("region", name=re.compile("^回答する"))


def _answer(page: Any, text: str) -> None:
    form = _answer_form(page)
    form.get_by_label("回答", exact=True).fill(text)
    form.get_by_role("button", name="送信する").click()


def _held(page: Any) -> Any:
    """The incident page's 送信待ちの回答 section."""
    return page.get_by_role("region", name="送信待ちの回答")


def _the_list(visit: Visit, day: Day) -> None:
    """The whole list: 鈴木's, 佐藤's and the unassigned incidents in the 担当 column."""
    page = visit.page
    page.goto(day.url("/staff/"))
    # the column's header (a phone shows it as each cell's label instead)
    expect(page.locator("thead th").filter(has_text=re.compile("^担当$"))).to_have_count(1)
    expect(page.locator("tbody tr")).to_have_count(len(INQUIRIES))
    expect(_assignee_cell(page, 1)).to_have_text("鈴木 一郎")
    expect(_assignee_cell(page, 2)).to_have_text("佐藤 花子")
    expect(_assignee_cell(page, 3)).to_have_text("未割当")
    expect(_assignee_cell(page, 4)).to_have_text("未割当")
    visit.publish(visit.shot("desk-list"), "desk-list")


def test_a_day_at_the_desk(browser: Any, day: Day, tmp_path: Path) -> None:
    visits: list[Visit] = []

    def login(email: str, device: Device = DESKTOP) -> Visit:
        visits.append(_login(browser, day, email, device, tmp_path))
        return visits[-1]

    try:
        _morning(day, login)
        _held_answer(day, visits[0])
        _collision(day, visits[0], login(SUZUKI))
        _approval(day, login)
        errors = [error for visit in visits for error in visit.errors]
        assert not errors, errors
    finally:
        for visit in visits:
            visit.close()


def _morning(day: Day, login: Any) -> None:
    """佐藤 looks at what nobody has (未割当), takes #2, and sees it under 自分の担当."""
    sato = login(SATO)
    page = sato.page
    page.goto(day.url("/staff/"))
    page.get_by_label("担当", exact=True).select_option(label="未割当")
    page.get_by_role("button", name="絞り込む").click()
    expect(page.locator("tbody tr")).to_have_count(3)
    expect(_row(page, 1)).to_have_count(0)  # 鈴木's
    for number in (2, 3, 4):
        expect(_assignee_cell(page, number)).to_have_text("未割当")

    page.get_by_role("link", name="#2", exact=True).click()
    expect(page.locator("#assignee")).to_have_text("未割当")
    page.get_by_role("combobox", name="担当者", exact=True).select_option(value=SATO)
    page.get_by_role("button", name="担当者を変更").click()
    expect(page.locator("#assignee")).to_have_text("佐藤 花子")

    _the_list(sato, day)
    _the_list(login(SATO, PHONE), day)

    page.goto(day.url("/staff/?assignee=mine"))
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(_assignee_cell(page, 2)).to_have_text("佐藤 花子")
    with day.sessions() as session:
        assert session.get(Incident, 2).assignee == SATO
        assert session.get(Incident, 1).assignee == SUZUKI


def _held_answer(day: Day, sato: Visit) -> None:
    """佐藤's answer waits 送信待ち with the seconds left; 送信取消 takes one back."""
    page = sato.page
    page.goto(day.url("/staff/incidents/2"))
    first = "佐藤です。共有フォルダのパスワードを再設定しました。"
    _answer(page, first)
    held = _held(page)
    expect(held).to_be_visible()
    expect(held.get_by_role("heading", name="送信待ちの回答")).to_be_visible()
    expect(held.locator("article")).to_have_count(1)
    expect(held.locator("article .meta strong")).to_have_text("送信待ち")
    expect(held.locator("pre.held-body")).to_contain_text(first)
    expect(held.get_by_role("button", name="送信取消")).to_be_visible()
    (row,) = day.answers(2)
    assert row.state == "pending"
    left = held.locator(f"#seconds-left-{row.id}")
    expect(left).to_have_text(re.compile(r"^\d+$"))
    assert 0 < int(left.inner_text()) <= HOLD_SECONDS
    expect(held.locator("article .meta")).to_contain_text("秒）")
    sato.publish(sato.shot("desk-held-answer"), "desk-held-answer")

    held.get_by_role("button", name="送信取消").click()
    expect(page.get_by_role("status").filter(has_text="回答の送信を取り消しました")).to_be_visible()
    expect(_held(page)).to_have_count(0)
    expect(page.locator("pre.body").filter(has_text=first)).to_be_visible()
    expect(page.locator("section.thread")).to_contain_text("【送信取消】")
    assert [a.state for a in day.answers(2)] == ["cancelled"]

    second = "佐藤です。共有フォルダのパスワードを再設定しました。再起動後にお試しください。"
    _answer(page, second)
    expect(_held(page).locator("pre.held-body")).to_contain_text(second)
    assert [a.state for a in day.answers(2)] == ["cancelled", "pending"]


def _collision(day: Day, sato: Visit, suzuki: Visit) -> None:
    """鈴木 writes on #3 while 佐藤 answers it: 鈴木's answer is refused, naming 佐藤 and when,
    with 佐藤's answer shown and 鈴木's text kept."""
    suzuki.page.goto(day.url("/staff/incidents/3"))
    mine = "鈴木です。送信サーバーのポート番号を587に変更してください。"
    _answer_form(suzuki.page).get_by_label("回答", exact=True).fill(mine)

    sato.page.goto(day.url("/staff/incidents/3"))
    theirs = "佐藤です。パスワードの変更後、メールソフトの設定も変更してください。"
    _answer(sato.page, theirs)
    expect(_held(sato.page).locator("pre.held-body")).to_contain_text(theirs)
    with day.sessions() as session:
        answered = session.scalars(
            select(IncidentMessage.created_at)
            .where(IncidentMessage.incident_id == 3, IncidentMessage.author == SATO)
            .order_by(IncidentMessage.id.desc())
        ).first()
    assert answered is not None

    suzuki.allow(r"status of 400")  # the refused answer's page
    _answer_form(suzuki.page).get_by_role("button", name="送信する").click()
    error = suzuki.page.locator("#action-error")
    expect(error).to_contain_text("送信していません（二重対応防止）")
    expect(error).to_contain_text(f"佐藤 花子さんが{ja_short_time(answered)}に回答しました")
    expect(error).to_contain_text(theirs)
    expect(error).to_contain_text("それでも送信する")
    expect(_answer_form(suzuki.page).get_by_label("回答", exact=True)).to_have_value(mine)
    suzuki.publish(suzuki.shot("desk-collision"), "desk-collision")
    assert [a.state for a in day.answers(3)] == ["pending"]  # 佐藤's only
    with day.sessions() as session:
        assert session.get(Incident, 3).assignee == SATO  # the first to answer owns it


def _approval(day: Day, login: Any) -> None:
    """山田's answer waits 承認待ち; 高橋 sees it on 承認待ち and sends it (承認して送信)."""
    yamada = login(YAMADA)
    yamada.page.goto(day.url("/staff/incidents/4"))
    text = "山田です。バックアップは毎日22時に実行される設定になっています。"
    _answer(yamada.page, text)
    held = _held(yamada.page)
    expect(held.locator("article .meta strong")).to_have_text("承認待ち")
    expect(held.locator("pre.held-body")).to_contain_text(text)
    expect(held.get_by_role("button", name="承認して送信")).to_have_count(0)  # not an approver
    assert [a.state for a in day.answers(4)] == ["awaiting_approval"]

    for device in (PHONE, DESKTOP):  # 高橋 approves on the desktop
        takahashi = login(TAKAHASHI, device)
        page = takahashi.page
        page.goto(day.url("/staff/"))
        page.get_by_role("link", name="承認待ち", exact=True).click()
        expect(page.get_by_role("heading", name="承認待ち（1件）")).to_be_visible()
        waiting = page.get_by_role("region", name=re.compile(r"^\[#4\]"))
        expect(waiting).to_have_count(1)
        expect(waiting.get_by_role("link")).to_contain_text("バックアップの設定を確認したい")
        expect(waiting.locator("pre.held-body")).to_contain_text(text)
        expect(waiting.get_by_role("button", name="承認して送信")).to_be_visible()
        expect(waiting.get_by_role("button", name="差し戻し")).to_be_visible()
        expect(waiting.get_by_label("差し戻しの理由")).to_be_visible()
        takahashi.publish(takahashi.shot("desk-approvals"), "desk-approvals")

    waiting.get_by_role("button", name="承認して送信").click()
    expect(page.get_by_role("status").filter(has_text="回答を承認しました")).to_be_visible()
    assert [a.state for a in day.answers(4)] == ["pending"]  # now held before sending
    page.goto(day.url("/staff/approvals"))
    expect(page.get_by_role("heading", name="承認待ち（0件）")).to_be_visible()
    expect(page.get_by_text("承認待ちの回答はありません。")).to_be_visible()
