"""The desk by mail: assignment (#take, #assign, an answer, round robin), follow-ups to the
assignee only, and no double answers (staff_collision, #force), through the real pipeline on
real SQLite/PostgreSQL with the real templates."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from intake.collision import collision_since
from intake.config import load_config
from intake.models import (
    AuditEntry,
    CannedAnswer,
    Incident,
    IncidentMessage,
    OutboxMail,
    RawState,
    StaffUser,
)
from intake.pipeline import Pipeline
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.test_staff_mail import OPEN, outbox, parsed, receive, staff_reply

SATO = "sato@example.jp"
SUZUKI = "suzuki@example.jp"
TANAKA = "tanaka@example.jp"
NAMES = {SATO: "佐藤 花子", SUZUKI: "鈴木 一郎", TANAKA: "田中 次郎"}


def _desk(sessions, *emails: str, away: dict[str, date] | None = None) -> None:
    with sessions.begin() as session:
        for n, address in enumerate(emails):
            session.add(
                StaffUser(
                    email=address,
                    name=NAMES[address],
                    reply_secret=f"{n:02d}" * 32,
                    profiles=[],
                    away_until=(away or {}).get(address),
                )
            )


@pytest.fixture
def config(tmp_path):
    return load_config(None, env={"UKETSUKE_HOME": str(tmp_path / "home")})


@pytest.fixture
def pipeline(config, sessions) -> Pipeline:
    _desk(sessions, SATO, SUZUKI)
    return Pipeline(config, sessions)


def _inquiry(pipeline: Pipeline, n: int = 1) -> int:
    mail = make_mail(FIELDS_BLOCK + f"\n問い合わせ {n}: ログインできません。\n")
    assert receive(pipeline, mail)[0] == RawState.PROCESSED
    with pipeline.sessions() as session:
        return session.scalars(select(Incident.id).order_by(Incident.id.desc())).first()


def _notice(sessions, number: int, to: str) -> OutboxMail:
    """The latest staff notification of the incident to ``to``."""
    return [
        m
        for m in outbox(sessions, "staff_notify")
        if m.incident_id == number and m.recipients == [to]
    ][-1]


def _answer(pipeline: Pipeline, notice: OutboxMail, body: str, minutes: int):
    reply_to = str(parsed(notice)["Reply-To"])
    mail = staff_reply(notice, body, sender=notice.recipients[0], to=reply_to)
    return receive(pipeline, mail, at=OPEN + timedelta(minutes=minutes), to=[reply_to])


def _follow_up(pipeline: Pipeline, number: int, minutes: int) -> None:
    mail = make_mail("まだ解決しません。", subject=f"Re: [#{number}] お問い合わせ")
    assert receive(pipeline, mail, at=OPEN + timedelta(minutes=minutes))[0] == RawState.PROCESSED


def _incident(sessions, number: int) -> Incident:
    with sessions() as session:
        return session.get(Incident, number)


def test_collision_second_answer_gets_staff_collision(pipeline, sessions) -> None:
    number = _inquiry(pipeline)
    to_sato, to_suzuki = _notice(sessions, number, SATO), _notice(sessions, number, SUZUKI)
    assert _answer(pipeline, to_sato, "山田様\n\n再起動してください。\n佐藤", 5)[0] == "processed"
    state, _ = _answer(pipeline, to_suzuki, "山田様\n\nキャッシュを消してください。\n鈴木", 7)
    assert state == RawState.PROCESSED
    [relayed] = outbox(sessions, "answer")
    assert "再起動してください" in parsed(relayed).get_content()
    [collision] = outbox(sessions, "staff_collision")
    assert collision.recipients == [SUZUKI]
    text = parsed(collision).get_content()
    subject = str(parsed(collision)["Subject"])
    assert subject == f"[#{number}] 回答は送信されていません: 佐藤 花子さんが先に回答しました"
    for expected in ("11月24日（火）10:35", "再起動してください", "#force", "キャッシュを消して"):
        assert expected in text, expected
    assert "2026-11-24T" not in text
    incident = _incident(sessions, number)
    assert incident.assignee == SATO  # the first answer took the unassigned incident
    with sessions() as session:
        bodies = session.scalars(
            select(IncidentMessage.body).where(
                IncidentMessage.direction == "out", IncidentMessage.author.is_not(None)
            )
        ).all()
        assert len(bodies) == 1  # the second answer is not in the thread
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "staff_collision")
        ).all()
        assert entry.actor == SUZUKI and entry.detail["first"] == SATO


def test_collision_force_on_the_first_line_sends_anyway(pipeline, sessions) -> None:
    number = _inquiry(pipeline)
    _answer(pipeline, _notice(sessions, number, SATO), "再起動してください。", 5)
    _answer(pipeline, _notice(sessions, number, SUZUKI), "#force\n補足です。設定も確認を。", 7)
    assert outbox(sessions, "staff_collision") == []
    answers = [parsed(m).get_content() for m in outbox(sessions, "answer")]
    assert len(answers) == 2 and "補足です" in answers[1] and "#force" not in answers[1]
    assert _incident(sessions, number).assignee == SATO  # forcing does not take it over


def test_collision_own_second_answer_from_the_same_notice_is_relayed(pipeline, sessions) -> None:
    number = _inquiry(pipeline)
    notice = _notice(sessions, number, SATO)
    _answer(pipeline, notice, "再起動してください。", 5)
    _answer(pipeline, notice, "追記: 再起動後にログインしてください。", 9)
    assert len(outbox(sessions, "answer")) == 2 and outbox(sessions, "staff_collision") == []


def test_collision_assigned_to_someone_else_after_the_notice(pipeline, sessions) -> None:
    number = _inquiry(pipeline)
    to_sato, to_suzuki = _notice(sessions, number, SATO), _notice(sessions, number, SUZUKI)
    assert _answer(pipeline, to_sato, "#take", 3)[0] == RawState.PROCESSED
    assert _incident(sessions, number).assignee == SATO and outbox(sessions, "answer") == []
    _answer(pipeline, to_suzuki, "ご確認ください。", 6)
    assert outbox(sessions, "answer") == []
    [collision] = outbox(sessions, "staff_collision")
    assert "佐藤 花子さんの担当になっています" in str(parsed(collision)["Subject"])


def test_collision_a_cancelled_answer_does_not_count(pipeline, sessions) -> None:
    number = _inquiry(pipeline)
    _answer(pipeline, _notice(sessions, number, SATO), "再起動してください。", 5)
    with sessions.begin() as session:
        incident = session.get(Incident, number)
        since = OPEN
        assert collision_since(session, incident, SUZUKI, since).by == SATO
        [mail] = session.scalars(select(OutboxMail).where(OutboxMail.kind == "answer")).all()
        mail.state = "pending"  # queued, not sent yet: still an answer
        assert collision_since(session, incident, SUZUKI, since) is not None
        mail.state = "cancelled"
        incident.assignee = None
        assert collision_since(session, incident, SUZUKI, since) is None
        assert collision_since(session, incident, SATO, since) is None  # one's own answer


def test_take_and_assign_by_mail_and_follow_ups_go_to_the_assignee_only(pipeline, sessions) -> None:
    number = _inquiry(pipeline)
    assert len(outbox(sessions, "staff_notify")) == 2  # unassigned: every staff member
    _answer(pipeline, _notice(sessions, number, SATO), "#assign suzuki@example.jp", 2)
    incident = _incident(sessions, number)
    assert (incident.assignee, incident.version) == (SUZUKI, 1)
    _follow_up(pipeline, number, 10)
    notices = [m for m in outbox(sessions, "staff_notify") if m.incident_id == number]
    assert [m.recipients for m in notices[2:]] == [[SUZUKI]]
    assert "\n■ 担当: 鈴木 一郎さん\n" in parsed(notices[-1]).get_content()  # shown in the notice
    _answer(pipeline, _notice(sessions, number, SATO), "#take", 12)
    assert _incident(sessions, number).assignee == SATO
    _follow_up(pipeline, number, 20)
    notices = [m for m in outbox(sessions, "staff_notify") if m.incident_id == number]
    assert [m.recipients for m in notices[3:]] == [[SATO]]
    with sessions() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "assign")).all()
        assert [(e.actor, e.detail["assignee"]) for e in entries] == [
            (SATO, SUZUKI),
            (SATO, SATO),
        ]


def test_assign_by_mail_to_an_unknown_address_tells_the_staff_member(pipeline, sessions) -> None:
    number = _inquiry(pipeline)
    _answer(pipeline, _notice(sessions, number, SATO), "#assign nobody@example.jp\n回答", 2)
    assert outbox(sessions, "answer") == []
    [told] = outbox(sessions, "staff_error")
    assert "nobody@example.jp" in parsed(told).get_content()
    assert _incident(sessions, number).assignee is None


def test_round_robin_skips_an_away_member(config, sessions) -> None:
    _desk(sessions, SATO, SUZUKI, TANAKA, away={SUZUKI: date(2026, 11, 24)})
    terms = replace(config.profiles["helpdesk"], auto_assign="round_robin")
    config = replace(config, profiles={**config.profiles, "helpdesk": terms})
    pipeline = Pipeline(config, sessions)
    numbers = [_inquiry(pipeline, n) for n in range(1, 4)]
    assert [_incident(sessions, n).assignee for n in numbers] == [SATO, TANAKA, SATO]
    # a new incident is mailed to its assignee only
    assert [m.recipients for m in outbox(sessions, "staff_notify")] == [[SATO], [TANAKA], [SATO]]
    with sessions.begin() as session:
        session.scalars(select(StaffUser).where(StaffUser.email == SUZUKI)).one().away_until = (
            date(2026, 11, 23)  # back: away through the day before
        )
    assert _incident(sessions, _inquiry(pipeline, 4)).assignee == SUZUKI


def test_round_robin_off_by_default_leaves_incidents_unassigned(pipeline, sessions) -> None:
    number = _inquiry(pipeline)
    assert _incident(sessions, number).assignee is None


def test_follow_up_of_an_incident_whose_assignee_left_goes_to_every_staff_member(
    pipeline, sessions
) -> None:
    number = _inquiry(pipeline)
    _answer(pipeline, _notice(sessions, number, SATO), "#assign suzuki@example.jp", 2)
    with sessions.begin() as session:
        session.scalars(select(StaffUser).where(StaffUser.email == SUZUKI)).one().active = False
    _follow_up(pipeline, number, 10)
    notices = [m for m in outbox(sessions, "staff_notify") if m.incident_id == number]
    assert [m.recipients for m in notices[2:]] == [[SATO]]  # every active member: 佐藤 alone
    assert _incident(sessions, number).assignee == SUZUKI  # kept until someone reassigns it


def test_follow_up_while_the_assignee_is_away_goes_to_every_member_present(
    config, sessions
) -> None:
    """A customer's follow-up must not wait unread for the assignee's return: while the
    assignee is away (through ``away_until``), every staff member who is not is told, and the
    notice says why; once back, the assignee alone again."""
    _desk(sessions, SATO, SUZUKI, TANAKA, away={SUZUKI: date(2026, 11, 27)})  # OPEN is 11-24
    pipeline = Pipeline(config, sessions)
    number = _inquiry(pipeline)
    _answer(pipeline, _notice(sessions, number, SATO), "#assign suzuki@example.jp", 2)
    assert _incident(sessions, number).assignee == SUZUKI
    before = len([m for m in outbox(sessions, "staff_notify") if m.incident_id == number])
    _follow_up(pipeline, number, 10)
    notices = [m for m in outbox(sessions, "staff_notify") if m.incident_id == number][before:]
    assert sorted(m.recipients[0] for m in notices) == [SATO, TANAKA]
    text = parsed(notices[0]).get_content()
    away = "（11月27日（金）まで不在のため、皆さんにお知らせしています）"
    assert f"\n■ 担当: 鈴木 一郎さん{away}\n" in text
    assert "\n■ 受付経路: " in text  # the next line stays a line of its own
    with sessions.begin() as session:
        session.scalars(select(StaffUser).where(StaffUser.email == SUZUKI)).one().away_until = (
            date(2026, 11, 23)  # back: away through the day before
        )
    _follow_up(pipeline, number, 20)
    notices = [m for m in outbox(sessions, "staff_notify") if m.incident_id == number]
    assert notices[-1].recipients == [SUZUKI] and notices[-2].recipients != [SUZUKI]
    assert "不在" not in parsed(notices[-1]).get_content()


def test_collision_an_answer_of_canned_alone_is_an_answer_too(pipeline, sessions) -> None:
    """``#canned NAME`` with no words of one's own is still an answer: refused when someone
    else answered first, and the staff_collision mail shows the #canned line."""
    with sessions.begin() as session:
        session.add(
            CannedAnswer(name="再起動", profile=None, body="{氏名} 様\n\n再起動をお願いします。")
        )
    number = _inquiry(pipeline)
    to_sato, to_suzuki = _notice(sessions, number, SATO), _notice(sessions, number, SUZUKI)
    assert _answer(pipeline, to_sato, "ドライバを更新してください。", 5)[0] == "processed"
    assert _answer(pipeline, to_suzuki, "#canned 再起動", 7)[0] == RawState.PROCESSED
    [relayed] = outbox(sessions, "answer")
    assert "ドライバを更新" in parsed(relayed).get_content()
    [collision] = outbox(sessions, "staff_collision")
    assert collision.recipients == [SUZUKI]
    assert "#canned 再起動" in parsed(collision).get_content()
    _answer(pipeline, _notice(sessions, number, SUZUKI), "#force\n#canned 再起動", 9)
    answers = [parsed(m).get_content() for m in outbox(sessions, "answer")]
    assert len(answers) == 2 and "再起動をお願いします" in answers[1]
