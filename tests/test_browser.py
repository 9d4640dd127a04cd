"""The web pages in a real browser against the real daemon (R3, R14, R17, R20, R30).

Debian's Chromium, driven by Playwright, talks to one ``uketsuke run`` subprocess (SQLite in a
temporary folder, a customer registry imported with the CLI, a staff account with a password);
everything the daemon sends goes over SMTP (``transport = "smtp"``) into a real aiosmtpd relay
sink. Each test runs on a desktop (1280x900) and a phone (375x812) in a fresh browser context;
a console error or an uncaught page error fails it, every page reached is screenshotted under
the test's tmp folder, and on the phone no page may scroll sideways. With
``UKETSUKE_SCREENSHOTS=docs/screenshots`` the main screenshots (form, confirmation, completion,
dashboard list, incident page) are copied there; normal runs leave the repository alone.

The tests share the daemon and run in file order, each device on its own customer address: the
inquiry (test 1) makes two incidents per device; the dashboard answers the first (test 4); the
second is answered with ``uketsuke incidents reply`` (the same answer code, so test 5 does not
hang on the dashboard) and closed through the one-click link of that answer mail (test 5).
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from intake import db
from intake.models import Incident, OutboxMail, RawMessage
from responder.acks import format_ja
from scheduler.calendar import TOKYO
from tests.browser import DEVICES, Device, Visit, chromium
from tests.conftest import UKETSUKE
from tests.daemon import Daemon, free_port
from tests.test_life import Sink

# The tests of this file share one desk (a daemon, its incidents): under xdist they run in order
# on one worker (``make test`` passes ``--dist loadfile``).
STAFF = "sato@example.jp"
STAFF_PASSWORD = "kantan-janai-pass-2026"
CUSTOMER_NUMBER = "C0123-4567"
COMPANY = "株式会社サンプル商事"
# One customer address per device: the per-address limit (R30) and the sink's matching.
CUSTOMERS = {"desktop": "yamada@example.co.jp", "phone": "suzuki@example.co.jp"}
NAMES = {"desktop": "山田 太郎", "phone": "鈴木 一郎"}
ITEMS = ("管理画面にログインできません。", "スケジュールの通知メールが届きません。")


class WebDaemon(Daemon):
    """``Daemon`` with standard input for its command line."""

    def run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """The CLI as a user runs it (``Daemon.cli`` with standard input)."""
        env = self.env
        env.pop("NOTIFY_SOCKET")
        return subprocess.run(
            [str(UKETSUKE), *args],
            env=env,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.home,
        )


@dataclass
class Desk:
    daemon: WebDaemon
    sink: Sink
    sessions: sessionmaker[Session]
    staff_password_set: bool
    # Per device: the incidents test 1 made.
    incidents: dict[str, list[int]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.daemon.web_port}{path}"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for r, m in self.sink.mail if r == [address]]

    def state(self, number: int) -> str:
        with self.sessions() as session:
            incident = session.get(Incident, number)
            assert incident is not None
            return incident.state

    def raw_count(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(RawMessage)) or 0

    def outbox_count(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(OutboxMail)) or 0

    def outbox_to(self, address: str) -> list[tuple[str, str]]:
        """(kind, state) of every outbox mail to ``address`` alone, oldest first: every mail the
        daemon sends is an outbox row first, so "nothing (more) was sent" needs no waiting."""
        with self.sessions() as session:
            rows = session.execute(
                select(OutboxMail.kind, OutboxMail.state, OutboxMail.recipients).order_by(
                    OutboxMail.id
                )
            ).all()
        return [(kind, state) for kind, state, recipients in rows if recipients == [address]]

    def settled(self, address: str, timeout: float = 30) -> list[tuple[str, str]]:
        """:meth:`outbox_to` once none of them is still to go out (pending or held): what the
        relay sink has for ``address`` then is all there is."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.outbox_to(address)
            if all(state not in ("pending", "held") for _, state in rows):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"outbox to {address} not settled: {rows}")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


@pytest.fixture(scope="module")
def desk(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    sink = Sink()
    relay_port = free_port()
    relay = Controller(sink, hostname="127.0.0.1", port=relay_port)
    relay.start()
    home = tmp_path_factory.mktemp("desk")
    web_port = free_port()
    config = home / "uketsuke.toml"
    config.write_text(
        "[outbox]\n"
        'transport = "smtp"\n'
        'relay_host = "127.0.0.1"\n'
        f"relay_port = {relay_port}\n"
        "relay_starttls = false\n"
        "[web]\n"
        f"port = {web_port}\n"
        "[profiles.helpdesk]\n"
        "answer_hold_seconds = 2\n"  # a staff answer waits 2 s before it is sent
        "[profiles.desknet]\n"
        "answer_hold_seconds = 2\n",
        encoding="utf-8",
    )
    database_url = f"sqlite:///{home / 'uketsuke.db'}"
    daemon = WebDaemon(home, database_url, config=config, web_port=web_port)
    engine = db.make_engine(database_url)
    try:
        _prepare(daemon, home)
        passwd = daemon.run("staff", "passwd", STAFF, input=STAFF_PASSWORD + "\n")
        daemon.start()
        yield Desk(daemon, sink, db.session_factory(engine), passwd.returncode == 0)
    finally:
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.terminate()
        daemon.close()
        engine.dispose()
        relay.stop()


def _prepare(daemon: WebDaemon, home: Path) -> None:
    accepted = (datetime.now(TOKYO) - timedelta(days=30)).date()  # a period in force today
    registry = home / "customers.csv"
    registry.write_text(
        "customer_number,company,domains,contact_emails,profile,order_accepted\n"
        f"{CUSTOMER_NUMBER},{COMPANY},example.co.jp,it@example.co.jp,desknet,{accepted}\n"
        "C0200-0001,ヘルプ工業株式会社,help.example.jp,soumu@help.example.jp,,\n",
        encoding="utf-8",
    )
    for command in (
        ("migrate",),
        ("customers", "import", str(registry)),
        ("staff", "add", "佐藤 花子", STAFF),
    ):
        result = daemon.run(*command)
        assert result.returncode == 0, f"{command}: {result.stderr}"


@pytest.fixture(params=DEVICES, ids=lambda device: device.name)
def visit(
    request: pytest.FixtureRequest, browser: Any, desk: Desk, tmp_path: Path
) -> Iterator[Visit]:
    device: Device = request.param
    page = Visit.open(browser, device, tmp_path / "screenshots")
    yield page
    page.close()
    if page.errors:
        pytest.fail("browser errors:\n" + "\n".join(page.errors))


def wait_for(test: Any, timeout: float = 30, message: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = test()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(message or "timed out")


def confirmation(page: Any) -> dict[str, str]:
    """The confirmation page's <dl>: label → value."""
    labels = page.locator("dl.confirm dt").all_inner_texts()
    values = page.locator("dl.confirm dd").all_inner_texts()
    return dict(zip(labels, values, strict=True))


def field_of(page: Any, label: str) -> Any:
    """The ``.field`` block holding the input labelled ``label``."""
    return page.locator(".field").filter(has=page.get_by_label(label, exact=False))


# 1. R3: two items → two incidents, one acknowledgment ------------------------------------------


def test_r3_inquiry_with_two_items_gives_two_numbers_and_one_acknowledgment(
    visit: Visit, desk: Desk, tmp_path: Path
) -> None:
    page, device = visit.page, visit.device.name
    email = CUSTOMERS[device]
    page.goto(desk.url("/desknet/inquiry"))
    expect(page.get_by_role("heading", name="お問い合わせフォーム")).to_be_visible()
    typed = {
        "社名": COMPANY,
        "氏名": NAMES[device],
        "ドメイン名": "example.co.jp",
        "顧客番号": CUSTOMER_NUMBER,
        "メールアドレス": email,
        "件名": "ログインと通知について",
    }
    for label, value in typed.items():
        page.get_by_label(label).fill(value)
    page.get_by_label("お問い合わせの種類").select_option(label="不具合・障害")
    page.get_by_label("お問い合わせ内容 1").fill(ITEMS[0])
    page.get_by_role("button", name="問い合わせを追加").click()  # a plain submit

    expect(page.get_by_label("お問い合わせ内容 2")).to_be_visible()
    for label, value in typed.items():  # everything typed is kept, and no error shown yet
        expect(page.get_by_label(label)).to_have_value(value)
    expect(page.get_by_label("お問い合わせ内容 1")).to_have_value(ITEMS[0])
    expect(page.get_by_label("お問い合わせの種類")).to_have_value("fault")
    expect(page.get_by_role("alert")).to_have_count(0)
    page.get_by_label("お問い合わせ内容 2").fill(ITEMS[1])
    attachment = tmp_path / "error-log.txt"
    attachment.write_text("2026-12-01 10:00:00 login failed\n", encoding="utf-8")
    page.get_by_label("添付ファイル").set_input_files(str(attachment))
    visit.publish(visit.shot("inquiry-form"), "inquiry-form")
    page.get_by_role("button", name="確認", exact=True).click()

    expect(page.get_by_role("heading", name="入力内容の確認")).to_be_visible()
    assert confirmation(page) == {
        **typed,
        "お問い合わせの種類": "不具合・障害",
        "お問い合わせ内容 1": ITEMS[0],
        "お問い合わせ内容 2": ITEMS[1],
        "添付ファイル": "error-log.txt",
    }
    visit.publish(visit.shot("inquiry-confirm"), "inquiry-confirm")
    assert desk.to(email) == []  # nothing sent before 送信
    page.get_by_role("button", name="送信", exact=True).click()

    expect(page.get_by_role("heading", name="お問い合わせを受け付けました")).to_be_visible()
    tags = page.locator(".incident-number").all_inner_texts()
    assert len(tags) == 2 and all(re.fullmatch(r"\[#\d+\]", tag) for tag in tags), tags
    numbers = [int(tag.strip("[#]")) for tag in tags]
    listed = page.locator("li").all_inner_texts()
    assert ITEMS[0] in listed[0] and ITEMS[1] in listed[1]
    expect(page.get_by_text(f"受付のお知らせを {email} 宛に")).to_be_visible()
    visit.publish(visit.shot("inquiry-done"), "inquiry-done")
    desk.incidents[device] = numbers

    ack = desk.sink.wait_for(lambda r, m: r == [email], timeout=30)
    assert desk.settled(email) == [("ack", "sent")]
    assert len(desk.to(email)) == 1, [str(m["Subject"]) for m in desk.to(email)]
    assert "受け付けました" in str(ack["Subject"])
    body = ack.get_content()
    assert all(tag in body for tag in tags), body
    with desk.sessions() as session:
        incidents = [session.get(Incident, n) for n in numbers]
        assert [i.channel for i in incidents if i] == ["web", "web"]


# 2. R30: errors next to the fields, in Japanese, with everything kept --------------------------


def test_r30_errors_are_shown_next_to_each_field_and_everything_typed_is_kept(
    visit: Visit, desk: Desk
) -> None:
    page = visit.page
    mail_before, raw_before = len(desk.sink.mail), desk.raw_count()
    outbox_before = desk.outbox_count()
    page.goto(desk.url("/helpdesk/inquiry"))
    long_subject = "長" * 201
    typed = {
        "社名": "",
        "氏名": "山田 太郎",
        "ドメイン名": "example",
        "顧客番号": "不明",
        "メールアドレス": "yamada@",
        "件名": long_subject,
        "お問い合わせ内容 1": "",
    }
    for label, value in typed.items():
        page.get_by_label(label).fill(value)
    # A single-line input takes no line break, and the page gives the limit as maxlength:
    # the browser keeps the 201st character out, so "too long" never reaches the server.
    expect(page.get_by_label("件名")).to_have_attribute("maxlength", "200")
    typed["件名"] = long_subject[:200]
    expect(page.get_by_label("件名")).to_have_value(typed["件名"])
    page.get_by_label("お問い合わせの種類").select_option(label="契約・サービス内容")
    page.get_by_role("button", name="確認", exact=True).click()

    expect(page.get_by_role("heading", name="お問い合わせフォーム")).to_be_visible()
    expect(page.locator(".errors-summary")).to_contain_text("入力内容を確認してください")
    expected: dict[str, str | re.Pattern[str]] = {
        "社名": "入力してください。",
        "ドメイン名": re.compile(r"^ドメイン名の形式が正しくありません（例: .+）。$"),
        "顧客番号": re.compile(r"^顧客番号の形式が正しくありません（例: .+）。$"),
        "メールアドレス": re.compile(r"^メールアドレスの形式が正しくありません（例: .+）。$"),
        "お問い合わせ内容 1": "入力してください。",
    }
    for label, message in expected.items():
        alert = field_of(page, label).get_by_role("alert")
        expect(alert).to_have_text(message)
        control = page.get_by_label(label)
        expect(control).to_have_attribute("aria-invalid", "true")
        described = (control.get_attribute("aria-describedby") or "").split()
        assert alert.get_attribute("id") in described, (label, described)
    expect(field_of(page, "氏名").get_by_role("alert")).to_have_count(0)
    expect(page.get_by_label("氏名")).to_have_attribute("aria-invalid", "false")
    for label, value in typed.items():
        expect(page.get_by_label(label)).to_have_value(value)
    expect(page.get_by_label("お問い合わせの種類")).to_have_value("general")
    visit.shot("inquiry-errors")

    # Corrected, the same page goes on to the confirmation (not sent: the test sends nothing).
    for label, value in {
        "社名": "ヘルプ工業株式会社",
        "ドメイン名": "help.example.jp",
        "顧客番号": "C0200-0001",
        "メールアドレス": "soumu@help.example.jp",
        "件名": "請求書の宛名について",
        "お問い合わせ内容 1": "請求書の宛名を変更したいです。",
    }.items():
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="確認", exact=True).click()
    expect(page.get_by_role("heading", name="入力内容の確認")).to_be_visible()
    assert confirmation(page)["お問い合わせの種類"] == "契約・サービス内容"
    visit.shot("inquiry-confirm-corrected")
    # Nothing was stored or queued (the pages answer after their database work), so nothing
    # can be sent later either.
    assert (desk.raw_count(), desk.outbox_count()) == (raw_before, outbox_before)
    assert len(desk.sink.mail) == mail_before


# 3. R14: the license form's due time -----------------------------------------------------------

_CLOSE_LINK = re.compile(r"https?://[^\s/]+/close/[0-9]+\.[0-9]+\.[0-9a-f]{32}")
_RECEIVED = re.compile(r"受付日時: (\d{4})年(\d{1,2})月(\d{1,2})日\(.\) (\d\d):(\d\d)")


def _cli_license_due(daemon: WebDaemon, instant: datetime) -> str:
    result = daemon.run("calendar", "--profile", "desknet", "license-due", instant.isoformat())
    assert result.returncode == 0, result.stderr
    return format_ja(datetime.fromisoformat(result.stdout.strip()))


def test_r14_license_form_shows_the_due_time_the_calendar_gives(visit: Visit, desk: Desk) -> None:
    page, device = visit.page, visit.device.name
    page.goto(desk.url("/desknet/license"))
    expect(page.get_by_role("heading", name="ライセンスキー再発行のご依頼")).to_be_visible()
    typed = {
        "顧客番号": CUSTOMER_NUMBER,
        "社名": COMPANY,
        "氏名": NAMES[device],
        "ドメイン名": "example.co.jp",
        "メールアドレス": "it@example.co.jp",
        "製品名": "desknet's NEO ウェブ会議",
    }
    for label, value in typed.items():
        page.get_by_label(label).fill(value)
    page.get_by_label("再発行の理由").select_option(label="再インストール")
    server = "ホスト名: neo02.example.co.jp\nOS: Rocky Linux 9"
    page.get_by_label("新しいサーバーの情報").fill(server)
    visit.shot("license-form")
    page.get_by_role("button", name="確認", exact=True).click()

    expect(page.get_by_role("heading", name="入力内容の確認")).to_be_visible()
    assert confirmation(page) == {
        **typed,
        "再発行の理由": "再インストール",
        "新しいサーバーの情報": server,
    }
    visit.shot("license-confirm")
    before = datetime.now(TOKYO).replace(second=0, microsecond=0)
    page.get_by_role("button", name="送信", exact=True).click()
    expect(
        page.get_by_role("heading", name="ライセンスキー再発行のご依頼を受け付けました")
    ).to_be_visible()
    after = datetime.now(TOKYO)
    visit.shot("license-done")

    match = _RECEIVED.search(page.locator("main").inner_text())
    assert match, page.locator("main").inner_text()
    year, month, day, hour, minute = (int(g) for g in match.groups())
    received = datetime(year, month, day, hour, minute, tzinfo=TOKYO)  # shown to the minute
    assert before <= received <= after
    # The instant lies somewhere in that minute; the due time is monotonic in it, so the page
    # shows what the CLI gives for the minute's start or for its last second.
    candidates = {
        _cli_license_due(desk.daemon, received),
        _cli_license_due(desk.daemon, received + timedelta(seconds=59)),
    }
    due = page.locator(".license-due").inner_text()
    assert due in candidates, (due, candidates)
    expect(page.locator(".incident-number")).to_have_count(1)


# 4. R20: answering from the dashboard ----------------------------------------------------------


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def log_in(page: Any, desk: Desk) -> None:
    page.goto(desk.url("/staff/login"))
    page.get_by_label("メールアドレス").fill(STAFF)
    page.get_by_label("パスワード").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page.get_by_role("button", name="ログアウト")).to_be_visible()


def test_r20_staff_answer_from_the_dashboard_reaches_the_customer_threaded(
    visit: Visit, desk: Desk
) -> None:
    if _status(desk.url("/staff/login")) == 404:
        pytest.skip("dashboard not built yet")
    assert desk.staff_password_set, "uketsuke staff passwd failed"
    page, device = visit.page, visit.device.name
    number = desk.incidents[device][0]
    email = CUSTOMERS[device]
    ack = next(m for m in desk.to(email) if "受け付けました" in str(m["Subject"]))

    log_in(page, desk)
    page.goto(desk.url("/staff/"))
    expect(page.get_by_role("heading", name="インシデント一覧")).to_be_visible()
    link = page.get_by_role("link", name=f"#{number}", exact=True)
    expect(link).to_be_visible()
    visit.publish(visit.shot("staff-list"), "staff-list")
    link.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"[#{number}]")
    expect(page.locator("pre.body").filter(has_text=ITEMS[0])).to_be_visible()
    answer = f"{NAMES[device].split()[0]}様\n\nパスワードを再設定してください。\n\n佐藤"
    form = page.get_by_role("region", name=re.compile("^回答する"))
    form.get_by_label("回答", exact=True).fill(answer)
    visit.publish(visit.shot("staff-incident"), "staff-incident")
    form.get_by_role("button", name="送信する").click()
    expect(
        page.locator("pre.body").filter(has_text="パスワードを再設定してください。")
    ).to_be_visible()

    relayed = desk.sink.wait_for(
        lambda r, m: (
            r == [email]
            and f"[#{number}]" in str(m["Subject"])
            and str(m["Subject"]).startswith("Re:")
        ),
        timeout=30,
    )
    assert relayed["In-Reply-To"] is not None
    assert str(relayed["In-Reply-To"]).startswith("<web.")  # the customer's form submission
    assert str(ack["Message-ID"]) in str(relayed["References"])  # and the acknowledgment
    text = relayed.get_content()
    assert "パスワードを再設定してください。" in text
    link = _CLOSE_LINK.search(text)  # R17: the one-click link (test 5 opens one)
    assert link and link.group(0).startswith(desk.url("/close/")), text
    assert STAFF not in relayed.as_string()
    wait_for(lambda: desk.state(number) == "answered", 10, "incident not answered")
    visit.shot("staff-answered")


# 5. R17: the one-click close link --------------------------------------------------------------


def test_r17_close_link_shows_a_page_and_closes_only_on_the_button(
    visit: Visit, desk: Desk
) -> None:
    page, device = visit.page, visit.device.name
    number = desk.incidents[device][1]
    email = CUSTOMERS[device]
    answered = desk.daemon.run(
        "incidents", "reply", str(number), "--from", STAFF, "--file", "-",
        input="FTPの設定画面で「パッシブモード」をオンにしてください。\n",
    )  # fmt: skip
    assert answered.returncode == 0, answered.stderr
    mail = desk.sink.wait_for(
        lambda r, m: r == [email] and str(m["Subject"]).startswith(f"Re: [#{number}]"),
        timeout=30,
    )
    assert str(mail["In-Reply-To"]).startswith("<web.")  # threaded to the form submission
    ack = next(m for m in desk.to(email) if "受け付けました" in str(m["Subject"]))
    assert str(ack["Message-ID"]) in str(mail["References"])
    link = _CLOSE_LINK.search(mail.get_content())
    assert link, mail.get_content()
    assert link.group(0).startswith(desk.url("/close/"))
    before_get = desk.settled(email)

    opened = page.goto(link.group(0))
    assert opened is not None and opened.status == 200
    expect(page.get_by_role("heading", name="お問い合わせのクローズ")).to_be_visible()
    expect(page.get_by_text(f"[#{number}]")).to_be_visible()
    button = page.get_by_role("button", name="解決したのでクローズする")
    expect(button).to_be_visible()
    visit.shot("close-confirm")
    assert desk.state(number) == "answered"  # the GET changed nothing
    assert desk.outbox_to(email) == before_get  # ...and queued nothing
    assert not any("クローズ" in str(m["Subject"]) for m in desk.to(email))

    button.click()
    expect(page.get_by_role("heading", name="クローズしました")).to_be_visible()
    expect(page.get_by_text(f"[#{number}] をクローズしました。")).to_be_visible()
    visit.shot("close-done")
    assert desk.state(number) == "closed"
    notice = desk.sink.wait_for(
        lambda r, m: (
            r == [email] and "クローズ" in str(m["Subject"]) and f"[#{number}]" in str(m["Subject"])
        ),
        timeout=30,
    )
    assert notice["In-Reply-To"] is not None
    after_close = desk.settled(email)
    assert len(after_close) == len(before_get) + 1  # the one notice

    visit.allow(r"status of 410")  # the page below is served as 410 Gone
    again = page.goto(link.group(0))
    assert again is not None and again.status == 410
    expect(page.get_by_role("heading", name="このリンクは使えません")).to_be_visible()
    expect(page.get_by_role("button")).to_have_count(0)
    visit.shot("close-used")
    assert desk.outbox_to(email) == after_close  # the used link queued nothing
    closings = [m for m in desk.to(email) if "クローズ" in str(m["Subject"])]
    assert len(closings) == 1
