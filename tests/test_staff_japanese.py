"""Staff read Japanese: the staff mails (notification, on-call page, error, the desk's
collision notice, the response targets' warning and breach, the operators' alarms, the approval
request and the returned answer) and the dashboard's pages (with 担当, 期限, the draft notice, the
alarm banner, 送信待ちの回答, 承認待ち, the answer form's 定型文 and 添付ファイル) carry no
English words, no rule numbers (R4) and no ISO timestamps — only what staff type or copy
(commands such as ``#close``, addresses, domains, incident tags, command lines) and the file
types a file may have (pdf, xlsx: what staff see on their files), sizes in MB.

Real SQLite/PostgreSQL, the daemon's pipeline, real templates, Flask's test client.
"""

from __future__ import annotations

import email
import re
from dataclasses import replace
from datetime import datetime, timedelta
from email import policy
from html.parser import HTMLParser

import pytest
from sqlalchemy import select, update
from werkzeug.security import generate_password_hash

from intake import alarms
from intake.alarmwatch import AlarmWatch
from intake.config import load_config
from intake.filelimits import ALLOWED as FILE_TYPES
from intake.models import (
    Alarm,
    CannedAnswer,
    Incident,
    OutboxMail,
    RawMessage,
    StaffUser,
    TimedAction,
)
from intake.pipeline import Pipeline
from intake.staffcommands import CommandError, parse_answer, reason_ja
from intake.states import OutboxKind
from intake.store import store_raw
from intake.targets import SLA_KIND
from intake.web import create_app
from scheduler.calendar import TOKYO
from scheduler.slatimers import sla_due
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.test_answer_files import with_file
from tests.test_staff_mail import staff_reply
from tests.test_web_staff import (  # noqa: F401 - fixtures
    PASSWORD,
    STAFF,
    Clock,
    client,
    desk,
    login,
    post,
)

NIGHT = datetime(2026, 11, 24, 22, 0, tzinfo=TOKYO)  # Tuesday, after hours
OPEN = datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)
STAFF_KINDS = (
    "staff_notify",
    "staff_alert",
    "staff_error",
    "oncall",
    "staff_collision",
    "sla_warning",
    "sla_breach",
)
OTHER = "suzuki@example.jp"  # a second staff member, for the desk's collision

# What staff may read in Latin letters: what they type or copy, and names of things.
ALLOWED = re.compile(
    r"[\w.+-]+@[\w.-]+"  # addresses
    r"|https?://\S+"
    r"|\buketsuke\b[^\n。）]*"  # a command line to type
    r"|#[a-z]+"  # staff commands
    r"|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+"  # domains, file names
    r"|\bC\d{4}-\d{4}\b"  # customer numbers
    r"|(?<![A-Za-z])(FAX|CSV|ID|MB)(?![A-Za-z])"
    rf"|(?<![A-Za-z])({'|'.join(suffix.lstrip('.') for suffix in FILE_TYPES)})(?![A-Za-z])"
)
ENGLISH = re.compile(r"[A-Za-z]{2,}")
RULE = re.compile(r"\bR\d+\b")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}:\d{2}")


def foreign(text: str, names: list[str]) -> list[str]:
    """English words, rule numbers and ISO timestamps in ``text``, with their surroundings."""
    for name in names:
        text = text.replace(name, "")
    rest = ALLOWED.sub(" ", text)
    return [
        rest[max(0, m.start() - 20) : m.end() + 20].replace("\n", " ")
        for pattern in (ENGLISH, RULE, ISO_TIME)
        for m in pattern.finditer(rest)
    ]


class VisibleText(HTMLParser):
    """The text a reader sees: no tags, attributes, styles or code samples."""

    SKIP = frozenset({"style", "script", "code", "title", "svg"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.SKIP:
            self.skipping += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return "\n".join(parser.parts)


@pytest.fixture
def config(tmp_path):
    loaded = load_config(None, env={"UKETSUKE_HOME": str(tmp_path / "home")})
    helpdesk = replace(loaded.profiles["helpdesk"], oncall_addresses=["oncall@example.jp"])
    return replace(loaded, profiles={**loaded.profiles, "helpdesk": helpdesk})


def receive(config, sessions, data: bytes, at: datetime, to: list[str] | None = None) -> None:
    sender = email.utils.parseaddr(str(email.message_from_bytes(data)["From"]))[1]
    stored = store_raw(
        sessions, data, channel="smtp", profile="helpdesk", envelope_from=sender, envelope_to=to
    )
    with sessions.begin() as session:
        session.get(RawMessage, stored.id).received_at = at
    Pipeline(config, sessions).process(stored.id, at)


def outbox(sessions, *kinds: str) -> list[OutboxMail]:
    with sessions() as session:
        query = select(OutboxMail).where(OutboxMail.kind.in_(kinds)).order_by(OutboxMail.id)
        return list(session.scalars(query))


def parsed(mail: OutboxMail) -> email.message.EmailMessage:
    return email.message_from_bytes(mail.data, policy=policy.default)


@pytest.fixture
def desk_at_work(config, desk):  # noqa: F811 - the fixture of test_web_staff
    """An urgent inquiry at night (paged, after hours), one in business hours, one held for its
    fields; staff answers by mail with bad commands, a second answer to the same notification
    (staff_collision); the response targets' warning and breach of the urgent one, unanswered;
    an operators' alarm that holds (the dashboard's banner)."""
    with desk.begin() as session:
        session.add(StaffUser(email=OTHER, name="鈴木 一郎", reply_secret="cd" * 32, profiles=[]))
    urgent = make_mail(FIELDS_BLOCK + "\nサーバーが停止しました。\n", subject="【緊急】停止")
    receive(config, desk, urgent, NIGHT)
    receive(config, desk, make_mail(FIELDS_BLOCK + "\n印刷できません。\n"), OPEN)
    receive(config, desk, make_mail("ログインできません。\n", sender="who@example.net"), OPEN)
    notify = notice(desk, 1, STAFF)
    reply_to = str(parsed(notify)["Reply-To"])
    bad = ("#closed\n回答です。", "#time たくさん\n回答です。", "#category 何か", "#take 今")
    for body in (*bad, "#assign nobody@example.jp\n回答です。", "#assign 佐藤\n回答です。"):
        receive(config, desk, staff_reply(notify, body), OPEN, to=[reply_to])
    for member, minutes in ((STAFF, 5), (OTHER, 7)):  # the second answer is not relayed
        second = notice(desk, 2, member)
        to = str(parsed(second)["Reply-To"])
        answer = staff_reply(second, "山田様\n\n再起動してください。", sender=member, to=to)
        receive(config, desk, answer, OPEN + timedelta(minutes=minutes), to=[to])
    with desk() as session:
        pending = (TimedAction.kind == SLA_KIND, TimedAction.state == "pending")
        [timer] = session.scalars(select(TimedAction).where(*pending))
        due = datetime.fromisoformat(timer.payload["due"])
        warn_at = timer.due_at
    assert sla_due(desk, config, warn_at) == 1  # sla_warning
    assert sla_due(desk, config, due) == 1  # sla_breach
    with desk.begin() as session:
        session.add(Alarm(condition="outbox", active=True, detail=OUTBOX_STUCK, started_at=OPEN))
        urgent_incident = session.get(Incident, 1)
        urgent_incident.draft_by, urgent_incident.draft_at = OTHER, OPEN  # 返信を作成中
    return desk


OUTBOX_STUCK = "送信予定のメールが16分送信できていません（送信用の中継サーバーをご確認ください）"


def notice(sessions, number: int, to: str) -> OutboxMail:
    """The first staff notification of incident ``number`` to ``to``."""
    mails = outbox(sessions, "staff_notify")
    return next(m for m in mails if m.incident_id == number and m.recipients == [to])


def test_staff_mails_are_japanese(config, desk_at_work) -> None:
    mails = outbox(desk_at_work, *STAFF_KINDS)
    assert {m.kind for m in mails} == set(STAFF_KINDS) - {"staff_alert"}
    assert len([m for m in mails if m.kind == "staff_error"]) == 6
    names = [p.display_name for p in config.profiles.values()]
    found = {}
    for mail in mails:
        message = parsed(mail)
        text = str(message["Subject"]) + "\n" + message.get_content()
        if bad := foreign(text, names):
            found[f"{mail.kind} {mail.id}"] = bad
    assert found == {}


def test_dashboard_pages_are_japanese(config, desk_at_work, client) -> None:  # noqa: F811
    assert login(client).status_code == 303
    assert post(client, "/staff/incidents/1/cause", cause="customer").status_code in (200, 303)
    assert post(client, "/staff/incidents/1/time", time="30m").status_code in (200, 303)
    names = [p.display_name for p in config.profiles.values()]
    found = {}
    for path in (
        "/staff/",
        "/staff/?due=auto_close",
        "/staff/?assignee=mine",
        "/staff/?sla=overdue",
        "/staff/?sort=due",
        "/staff/incidents/1",
        "/staff/incidents/2",
        "/staff/held",
        "/staff/customers",
        "/staff/customers/1",
        "/staff/reports?month=2026-11",
        "/staff/reports?month=2026-13",
    ):
        page = client.get(path)
        assert page.status_code in (200, 400), path
        if bad := foreign(visible(page.text), names):
            found[path] = bad
    assert found == {}
    assert OUTBOX_STUCK in client.get("/staff/").text  # the alarm banner was scanned too
    assert "鈴木 一郎さんが返信を作成中" in client.get("/staff/incidents/1").text  # and the draft


def test_operators_alarm_mails_are_japanese(config, desk) -> None:  # noqa: F811
    watch = AlarmWatch(config, desk, "desk-1")
    found = {}
    for kind in (OutboxKind.OPS_ALERT, OutboxKind.OPS_RESOLVED):
        due = alarms.Due("outbox", kind, OUTBOX_STUCK, OPEN)
        _, _, data = watch._compose(due, OPEN + timedelta(minutes=20))
        message = email.message_from_bytes(data, policy=policy.default)
        text = str(message["Subject"]) + "\n" + message.get_content()
        assert "11月24日（火）10:30" in text
        if bad := foreign(text, ["desk-1", *(p.display_name for p in config.profiles.values())]):
            found[str(kind)] = bad
    assert found == {}


@pytest.mark.parametrize(
    ("commands", "category", "cause", "minutes"),
    [
        ("#category 障害\n#cause お客様側\n#time 1時間30分", "fault", "customer", 90),
        ("#category 導入・設定\n#cause 当社\n#time 30分", "setup", "ours", 30),
        ("#category fault\n#cause third-party\n#time 1.5h", "fault", "third-party", 90),
    ],
)
def test_r20_commands_take_the_japanese_names_staff_are_shown(
    commands: str, category: str, cause: str, minutes: int
) -> None:
    answer = parse_answer(commands + "\n回答です。")
    assert (answer.category, answer.cause, answer.minutes) == (category, cause, minutes)


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ("#category 何か\n回答です。", "不具合・障害"),
        ("#assign 佐藤\n回答です。", "メールアドレス"),
        ("#force 今\n回答です。", "「今」"),
        ("#forward\n回答です。", "#canned #take #assign #force #cancel #approve #return"),
        ("#canned\n回答です。", "定型文の名前"),
    ],
)
def test_r20_a_bad_command_is_explained_in_japanese(answer: str, said: str) -> None:
    with pytest.raises(CommandError) as raised:
        parse_answer(answer)
    assert said in reason_ja(raised.value) and not ENGLISH.search(
        ALLOWED.sub("", reason_ja(raised.value))
    )


HOLD_KINDS = ("staff_notify", "staff_error", "approval_request", "approval_returned")


@pytest.fixture
def desk_holding(config, desk):  # noqa: F811 - the fixture of test_web_staff
    """Sato's answers need approval and Suzuki approves; a canned answer. By mail: an unknown
    canned answer, #approve by one who is no approver, a refused file, an answer sent back with
    #return, #return with nothing waiting, #cancel with nothing to cancel; a second answer waits
    for approval, and Suzuki's own answer to a second incident is held before sending."""
    with desk.begin() as session:
        session.execute(
            update(StaffUser).where(StaffUser.email == STAFF).values(needs_approval=True)
        )
        session.add(
            StaffUser(
                email=OTHER,
                name="鈴木 一郎",
                reply_secret="cd" * 32,
                profiles=[],
                approver=True,
                password_hash=generate_password_hash(PASSWORD, method="scrypt"),
            )
        )
        session.add(CannedAnswer(name="折り返し", profile=None, body="{氏名} 様\n折り返します。"))
    receive(config, desk, make_mail(FIELDS_BLOCK + "\n印刷できません。\n"), OPEN)
    receive(config, desk, make_mail(FIELDS_BLOCK + "\nログインできません。\n"), OPEN)

    def reply(mail: OutboxMail, body: str, minutes: int, member: str = STAFF, file=None) -> None:
        to = str(parsed(mail)["Reply-To"])
        data = staff_reply(mail, body, sender=member, to=to)
        if file is not None:
            data = with_file(data, *file)
        receive(config, desk, data, OPEN + timedelta(minutes=minutes), to=[to])

    notify = notice(desk, 1, STAFF)
    reply(notify, "#canned ありません\n回答です。", 1)
    reply(notify, "#approve", 2)
    reply(notify, "こちらを実行してください。", 3, file=("setup.exe", b"MZ", "application/x-foo"))
    reply(notify, "#canned 折り返し\n\nドライバを更新してください。", 5)
    [request] = outbox(desk, "approval_request")
    reply(request, "#return 型番を確認してから案内してください。", 10, member=OTHER)
    reply(request, "#return もう一度", 11, member=OTHER)
    reply(notice(desk, 1, OTHER), "#cancel", 12, member=OTHER)
    reply(notify, "ドライバを更新してください（型番を確認しました）。", 15)
    reply(notice(desk, 2, OTHER), "再起動してください。", 16, member=OTHER)
    return desk


def test_hold_and_approval_mails_are_japanese(config, desk_holding) -> None:
    mails = outbox(desk_holding, *HOLD_KINDS)
    assert {m.kind for m in mails} == set(HOLD_KINDS)
    assert len([m for m in mails if m.kind == "staff_error"]) == 5
    requests = [m for m in mails if m.kind == "approval_request"]
    assert len(requests) == 2
    assert "■ 回答の作成: 11月24日（火）10:35" in parsed(requests[0]).get_content()
    names = [p.display_name for p in config.profiles.values()]
    found = {}
    for mail in mails:
        message = parsed(mail)
        text = str(message["Subject"]) + "\n" + message.get_content()
        if bad := foreign(text, names):
            found[f"{mail.kind} {mail.id}"] = bad
    assert found == {}


def test_hold_and_approval_pages_are_japanese(config, desk_holding, client) -> None:  # noqa: F811
    senior = create_app(config, desk_holding, Clock(OPEN + timedelta(minutes=16))).test_client()
    assert login(senior, OTHER).status_code == 303
    assert login(client).status_code == 303
    names = [p.display_name for p in config.profiles.values()]
    found = {}
    pages = {
        "/staff/incidents/1": "送信待ちの回答",
        "/staff/incidents/2": "送信取消",
        "/staff/approvals": "承認待ち",
    }
    for who, reader in (("author", client), ("approver", senior)):
        for path, shown in pages.items():
            page = reader.get(path)
            assert page.status_code == 200 and shown in page.text, (who, path)
            if bad := foreign(visible(page.text), names):
                found[f"{who} {path}"] = bad
    incident = client.get("/staff/incidents/1").text
    assert "定型文" in incident and "挿入" in incident and "添付ファイル" in incident
    assert "承認して送信" in senior.get("/staff/approvals").text
    assert found == {}
