"""Response targets (docs/staff.md, "Response targets"): due times in business hours (R9, R12),
their warning and breach mails as durable timers (R16), and what clears or renews them.

Time is controlled: mail is received at a chosen instant through the real pipeline, and the
scheduler's jobs tick with an injected clock (the daemon's own wiring, ``job_ticks``); a real
daemon is started and stopped between the warning and the breach. Staff mail goes through the
real outbox into a real aiosmtpd relay sink.
"""

from __future__ import annotations

import email
import gc
import json
import weakref
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import select

from intake import db
from intake.answers import act
from intake.config import Config, load_config
from intake.models import AuditEntry, Incident, OutboxMail, StaffUser, TimedAction
from intake.pipeline import Pipeline
from intake.staffcommands import StaffAnswer
from intake.store import store_raw
from intake.targets import FIRST, target_after
from scheduler.calendar import TOKYO
from scheduler.clock import FixedClock as Clock
from scheduler.service import job_ticks
from tests.daemon import Daemon
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.test_life import Sink, sink  # noqa: F401 - the relay fixture

STAFF = "sato@example.jp"
# Friday 16:30 at the helpdesk (10-12, 13-17): half an hour on Friday, six hours on Monday, an
# hour and a half on Tuesday: the first answer is due Tuesday 11:30, warned at 10:30. Far in the
# future, so that the real daemon's own clock never reaches it.
FRIDAY = datetime(2090, 6, 2, 16, 30, tzinfo=TOKYO)
WARN = datetime(2090, 6, 6, 10, 30, tzinfo=TOKYO)
DUE = datetime(2090, 6, 6, 11, 30, tzinfo=TOKYO)




def write_config(home: Path, relay_port: int) -> Path:
    path = home / "uketsuke.toml"
    path.write_text(
        '[web]\npublic_url = "https://support.example.co.jp"\n'
        "[outbox]\n"
        'transport = "smtp"\n'
        'relay_host = "127.0.0.1"\n'
        f"relay_port = {relay_port}\n"
        "relay_starttls = false\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def desk(tmp_path: Path, database_url: str, sink) -> Iterator[Daemon]:  # noqa: F811
    home = tmp_path / "home"
    home.mkdir()
    instance = Daemon(home, database_url, config=write_config(home, sink[1]))
    assert instance.cli("migrate").returncode == 0
    assert instance.cli("staff", "add", "佐藤 花子", STAFF).returncode == 0
    yield instance
    instance.close()


def receive(config: Config, sessions, data: bytes, at: datetime) -> None:
    stored = store_raw(sessions, data, channel="smtp", profile="helpdesk", received_at=at)
    Pipeline(config, sessions).process(stored.id, at)


def sla_mails(sessions) -> list[OutboxMail]:
    kinds = ("sla_warning", "sla_breach")
    with sessions() as session:
        query = select(OutboxMail).where(OutboxMail.kind.in_(kinds)).order_by(OutboxMail.id)
        return list(session.scalars(query))


def timer(sessions) -> TimedAction:
    with sessions() as session:
        return session.scalars(select(TimedAction).where(TimedAction.kind == "sla_due")).one()


def test_r9_r12_friday_1630_warning_and_breach_at_business_instants_through_a_restart(
    desk: Daemon,
    sink,  # noqa: F811
    database_url: str,
) -> None:
    capture: Sink = sink[0]
    config = load_config(desk.config, env={"UKETSUKE_HOME": str(desk.home)})
    engine = db.make_engine(database_url)
    sessions = db.session_factory(engine)
    receive(config, sessions, make_mail(FIELDS_BLOCK + "\n印刷できません。\n"), FRIDAY)
    with sessions() as session:
        incident = session.get(Incident, 1)
        assert incident.first_response_due == DUE and incident.response_due == DUE
        assert incident.first_response_at is None
    with sessions() as session:  # staff are told the due time in Japanese, not as a timer
        [notify] = session.scalars(select(OutboxMail).where(OutboxMail.kind == "staff_notify"))
    notification = email.message_from_bytes(notify.data, policy=policy.default).get_content()
    assert "■ 回答期限: 6月6日（火）11:30" in notification and "sla_due" not in notification
    pending = timer(sessions)
    assert (pending.state, pending.due_at, pending.payload["stage"]) == ("pending", WARN, "warning")

    clock = Clock(WARN - timedelta(seconds=1))
    ticks = job_ticks(config, sessions, clock)
    ticks["sla"]()
    assert sla_mails(sessions) == []  # not a second early
    clock.at = WARN
    ticks["sla"]()
    [warning] = sla_mails(sessions)
    assert (warning.kind, warning.recipients) == ("sla_warning", [STAFF])  # nobody assigned
    moved = timer(sessions)
    assert (moved.state, moved.due_at, moved.payload["stage"]) == ("pending", DUE, "breach")
    engine.dispose()

    # A restart between: the real daemon ticks its jobs on its own clock and fires nothing early.
    desk.start()
    desk.wait_for_heartbeat()
    assert desk.terminate() == 0
    listed = desk.cli("timers", "list", "--kind", "sla_due", "--json")
    assert '"kind": "sla_due"' in listed.stdout and '"state": "pending"' in listed.stdout
    assert '"due_at": "2090-06-06T11:30:00+09:00"' in listed.stdout

    engine = db.make_engine(database_url)
    sessions = db.session_factory(engine)
    clock = Clock(DUE - timedelta(seconds=1))
    ticks = job_ticks(config, sessions, clock)
    ticks["sla"]()
    assert len(sla_mails(sessions)) == 1
    clock.at = DUE
    ticks["sla"]()
    clock.at = DUE + timedelta(hours=3)
    ticks["sla"]()  # once per due time
    [_, breach] = sla_mails(sessions)
    assert (breach.kind, breach.recipients) == ("sla_breach", [STAFF])
    assert timer(sessions).state == "done"
    with sessions() as session:
        actions = session.scalars(select(AuditEntry.action)).all()
        assert actions.count("sla_warning") == 1 and actions.count("sla_breach") == 1

    ticks["outbox"]()  # through the real relay: to staff only, never to the customer
    warned = capture.wait_for(lambda r, m: "回答期限が近づいています" in str(m["Subject"]))
    breached = capture.wait_for(lambda r, m: "回答期限超過" in str(m["Subject"]))
    for recipients, message in capture.mail:  # the customer got the acknowledgment only
        assert recipients == [STAFF] or "受け付けました" in str(message["Subject"])
    for message in (warned, breached):
        text = message.get_content()
        assert str(message["Subject"]).startswith("[#1]")
        assert "6月6日（火）11:30" in text and "株式会社サンプル商事" in text
        assert "https://support.example.co.jp/staff/incidents/1" in text
        assert "2090-06-06" not in text and "sla" not in text.lower()
    engine.dispose()


@pytest.fixture
def config() -> Config:
    return load_config(None, env={})


OPEN = datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)  # Tue: 5.5 h Tue, 2.5 h Wed: due 13:30


def staff_user(sessions) -> None:
    with sessions.begin() as session:
        session.add(StaffUser(email=STAFF, name="佐藤 花子", reply_secret="s" * 32))


def staff_acts(config: Config, sessions, answer: StaffAnswer, at: datetime) -> None:
    with sessions.begin() as session:
        staff = session.scalars(select(StaffUser)).one()
        act(session, config, session.get(Incident, 1), staff, answer, at)


def timers(sessions) -> list[tuple[str, datetime]]:
    with sessions() as session:
        query = select(TimedAction).where(TimedAction.kind == "sla_due").order_by(TimedAction.id)
        return [(t.state, t.due_at) for t in session.scalars(query)]


def test_staff_answer_clears_due_time_note_does_not_and_follow_up_starts_a_new_one(
    config: Config, sessions
) -> None:
    staff_user(sessions)
    receive(config, sessions, make_mail(FIELDS_BLOCK + "\n印刷できません。\n"), OPEN)
    first_due = datetime(2026, 11, 25, 13, 30, tzinfo=TOKYO)
    staff_acts(config, sessions, StaffAnswer("社内メモ", note=True), OPEN + timedelta(hours=1))
    with sessions() as session:
        incident = session.get(Incident, 1)
        assert (incident.response_due, incident.first_response_at) == (first_due, None)
    assert timers(sessions) == [("pending", datetime(2026, 11, 25, 11, 30, tzinfo=TOKYO))]

    answered_at = OPEN + timedelta(hours=2)
    staff_acts(config, sessions, StaffAnswer("ドライバを更新してください。"), answered_at)
    with sessions() as session:
        incident = session.get(Incident, 1)
        assert incident.response_due is None and incident.first_response_at == answered_at
        assert incident.first_response_due == first_due  # kept: the report judges by it
        [answer] = session.scalars(select(OutboxMail).where(OutboxMail.kind == "answer"))
    assert [state for state, _ in timers(sessions)] == ["cancelled"]

    # Thursday 16:00: 1 h Thu, 6 h Fri, 6 h Mon, 3 h Tue: due Tue 2026-12-01 14:00.
    follow_up_at = datetime(2026, 11, 26, 16, 0, tzinfo=TOKYO)
    reply = make_mail(
        "まだ印刷できません。\n",
        subject="Re: [#1] お問い合わせ",
        headers={"In-Reply-To": answer.message_id},
    )
    receive(config, sessions, reply, follow_up_at)
    follow_up_due = datetime(2026, 12, 1, 14, 0, tzinfo=TOKYO)
    with sessions() as session:
        incident = session.get(Incident, 1)
        assert (incident.state, incident.response_due) == ("open", follow_up_due)
        assert incident.first_response_at == answered_at  # the first answer stays the first
    assert timers(sessions)[-1] == ("pending", datetime(2026, 12, 1, 12, 0, tzinfo=TOKYO))

    # A second follow-up while the answer is due leaves the earlier due time.
    again = make_mail("追記です。\n", headers={"In-Reply-To": answer.message_id})
    receive(config, sessions, again, follow_up_at + timedelta(days=1))
    with sessions() as session:
        assert session.get(Incident, 1).response_due == follow_up_due
    assert len(timers(sessions)) == 2

    staff_acts(config, sessions, StaffAnswer("", close=True), follow_up_at + timedelta(days=2))
    with sessions() as session:
        assert session.get(Incident, 1).response_due is None  # closed: nothing is due
    assert [state for state, _ in timers(sessions)] == ["cancelled", "cancelled"]


def test_zero_hours_turns_the_target_off(tmp_path: Path, sessions) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[profiles.helpdesk]\nfirst_response_hours = 0\n", encoding="utf-8")
    config = load_config(path, env={})
    receive(config, sessions, make_mail(FIELDS_BLOCK + "\n印刷できません。\n"), OPEN)
    with sessions() as session:
        incident = session.get(Incident, 1)
        assert (incident.first_response_due, incident.response_due) == (None, None)
    assert timers(sessions) == []


def test_r9_a_due_time_is_never_an_earlier_configs_answer(tmp_path: Path, config: Config) -> None:
    """``target_after`` remembers its last answer. Keyed by the config's ``id()``, a config
    freed and a new one made at its address got the freed one's answer: after the test above
    (target off), the next test's incident once got no timer. The remembered config is kept
    alive now, so no other can take its address, and it is compared by identity."""
    path = tmp_path / "off.toml"
    path.write_text("[profiles.helpdesk]\nfirst_response_hours = 0\n", encoding="utf-8")
    off = load_config(path, env={})
    assert target_after(off, "helpdesk", OPEN, FIRST) is None
    remembered = weakref.ref(off)
    del off
    gc.collect()
    assert remembered() is not None  # still held: its address cannot be reused meanwhile
    assert target_after(config, "helpdesk", OPEN, FIRST) is not None


def test_stale_timer_sends_nothing(config: Config, sessions) -> None:
    """A timer whose due time is no longer the incident's (answered in the same instant) is
    cancelled without a mail."""
    receive(config, sessions, make_mail(FIELDS_BLOCK + "\n印刷できません。\n"), OPEN)
    with sessions.begin() as session:
        session.get(Incident, 1).response_due = None
    job_ticks(config, sessions, Clock(OPEN + timedelta(days=7)))["sla"]()
    assert sla_mails(sessions) == []
    assert [state for state, _ in timers(sessions)] == ["cancelled"]


def test_incidents_json_carries_targets_and_lists_overdue_and_due_before(
    config: Config, sessions, cli
) -> None:
    """#1 (due 2026-11-25 13:30) is overdue by the wall clock, #2 (due 2090-06-06 11:30) is
    not, #3 was answered."""
    staff_user(sessions)
    for text, at in [("一件目", OPEN), ("二件目", FRIDAY), ("三件目", OPEN)]:
        receive(config, sessions, make_mail(f"{FIELDS_BLOCK}\n{text}です。\n"), at)
    with sessions.begin() as session:
        staff = session.scalars(select(StaffUser)).one()
        act(session, config, session.get(Incident, 3), staff, StaffAnswer("回答"), OPEN)

    shown = json.loads(cli("incidents", "show", "1", "--json").stdout)
    assert shown["first_response_due"] == "2026-11-25T13:30:00+09:00"
    assert shown["response_due"] == "2026-11-25T13:30:00+09:00"
    assert (shown["first_response_at"], shown["overdue"]) == (None, True)
    answered = json.loads(cli("incidents", "show", "3", "--json").stdout)
    assert answered["response_due"] is None and answered["overdue"] is False
    assert answered["first_response_at"] == "2026-11-24T10:30:00+09:00"

    def listed(*args: str) -> list[int]:
        result = cli("incidents", "list", "--json", *args)
        assert result.returncode == 0, result.stderr
        return [json.loads(line)["number"] for line in result.stdout.splitlines()]

    assert listed() == [1, 2, 3]
    assert listed("--overdue") == [1]
    assert listed("--due-before", "2090-06-06T11:30") == [1, 2]
    assert listed("--due-before", "2090-06-06T11:29:59") == [1]
    assert listed("--due-before", "2026-11-25T04:29:59Z") == []
    bad = cli("incidents", "list", "--due-before", "tomorrow")
    assert bad.returncode == 2 and "is not an ISO 8601 time" in bad.stderr
