"""Prebuilt statements (intake.fastsql) write exactly what ``Connection.execute`` writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, exc, insert, select, update

from intake.fastsql import Prebuilt
from intake.incidents import _INSERT_INCIDENT, _INSERT_MESSAGE
from intake.models import Incident, IncidentMessage, OutboxMail, TimedAction
from intake.targets import _INSERT_TIMER
from responder.outbox import _COUNT_AUTOMATIC, _INSERT_OUTBOX

NOW = datetime(2026, 12, 4, 8, 30, 15, 123456, tzinfo=UTC)


def _incident(**extra) -> dict:
    return {
        "profile": "helpdesk",
        "customer_id": None,
        "inquiry_id": None,
        "contract_id": None,
        "channel": "mail",
        "category": "other",
        "state": "open",
        "subject": "件名 テスト",
        "first_line": "ライセンスの再発行をお願いします",
        "reply_address": "a@example.jp",
        "flags": ["urgent", "after_hours"],
        "fields": {"company": "株式会社テスト", "name": "山田 太郎"},
        "urgent": True,
        "linked_incident_id": None,
        "created_at": NOW,
        "updated_at": NOW,
        "last_customer_message_at": NOW,
        "minutes_worked": 0,
        "first_response_due": NOW + timedelta(hours=4),
        "response_due": NOW + timedelta(hours=4),
        "version": 0,
        **extra,
    }


def _columns(row) -> dict:  # noqa: ANN001
    values = {c.key: getattr(row, c.key) for c in row.__table__.columns}
    values.pop("id")
    return values


def test_a_prebuilt_insert_writes_the_row_sqlalchemy_writes(sessions) -> None:
    """Aware datetimes, JSON lists and dicts, booleans and Japanese text come back the same
    from a row written on the cursor as from one written by ``Connection.execute``."""
    with sessions.begin() as session:
        connection = session.connection()
        fast = _INSERT_INCIDENT.scalar(connection, _incident())
        slow = connection.execute(_INSERT_INCIDENT.statement, _incident()).scalar_one()
        for number in (fast, slow):
            _INSERT_MESSAGE.run(
                connection,
                {"incident_id": number, "direction": "in", "raw_message_id": None,
                 "message_id": f"<m{number}@example.jp>", "author": "a@example.jp",
                 "body": "本文", "created_at": NOW},
            )  # fmt: skip
    with sessions() as session:
        rows = {i.id: i for i in session.scalars(select(Incident))}
        assert _columns(rows[fast]) == _columns(rows[slow])
        assert rows[fast].created_at == NOW
        assert rows[fast].flags == ["urgent", "after_hours"]
        assert rows[fast].fields["company"] == "株式会社テスト"
        messages = session.scalars(select(IncidentMessage).order_by(IncidentMessage.id)).all()
        assert [m.incident_id for m in messages] == [fast, slow]
        assert messages[0].created_at == NOW and messages[0].body == "本文"


def test_prebuilt_many_and_a_count_match_sqlalchemy(sessions) -> None:
    with sessions.begin() as session:
        connection = session.connection()
        number = _INSERT_INCIDENT.scalar(connection, _incident())
        rows = [
            {"kind": "sla_due", "due_at": NOW + timedelta(minutes=m), "state": "pending",
             "incident_id": number, "inquiry_id": None, "payload": {"stage": "warning"},
             "attempts": 0, "created_at": NOW}
            for m in (1, 2, 3)
        ]  # fmt: skip
        _INSERT_TIMER.many(connection, rows)
        for position, recipient in enumerate(("a@example.jp", "a@example.jp", "b@example.jp")):
            _INSERT_OUTBOX.run(
                connection,
                {"kind": "ack", "profile": "helpdesk", "incident_id": number,
                 "message_id": f"<{position}@example.jp>", "recipients": [recipient],
                 "automatic": True, "rate_key": recipient, "data": b"mail", "due_at": NOW,
                 "created_at": NOW, "state": "pending", "attempts": 0, "late": False},
            )  # fmt: skip
        since = {"recipient": "a@example.jp", "since": NOW - timedelta(hours=1)}
        fast = _COUNT_AUTOMATIC.scalar(connection, since)
        slow = connection.execute(_COUNT_AUTOMATIC.statement, since).scalar()
        assert fast == slow == 2
        assert _COUNT_AUTOMATIC.scalar(connection, {**since, "since": NOW}) == 0
    with sessions() as session:
        timers = session.scalars(select(TimedAction).order_by(TimedAction.id)).all()
        assert [t.due_at for t in timers] == [r["due_at"] for r in rows]
        assert timers[0].payload == {"stage": "warning"}
        assert session.scalar(select(OutboxMail.recipients)) == ["a@example.jp"]


def test_a_prebuilt_update_keeps_the_values_bound_in_the_statement(sessions) -> None:
    cancel = Prebuilt(
        update(TimedAction.__table__)
        .where(TimedAction.__table__.c.kind == "auto_close")
        .values(state="cancelled")
    )
    with sessions.begin() as session:
        connection = session.connection()
        number = _INSERT_INCIDENT.scalar(connection, _incident())
        for kind in ("auto_close", "sla_due"):
            _INSERT_TIMER.run(
                connection,
                {"kind": kind, "due_at": NOW, "state": "pending", "incident_id": number,
                 "inquiry_id": None, "payload": {}, "attempts": 0, "created_at": NOW},
            )  # fmt: skip
        cancel.run(connection, {})
    with sessions() as session:
        states = dict(session.execute(select(TimedAction.kind, TimedAction.state)).all())
    assert states == {"auto_close": "cancelled", "sla_due": "pending"}


def test_a_statement_with_python_defaults_is_left_to_sqlalchemy(sessions) -> None:
    """``version`` has a Python-side default: without it in the values SQLAlchemy runs the
    INSERT (and fills the default), on the cursor nothing would."""
    seen: list[str] = []
    engine = sessions.kw["bind"]

    def listener(*args) -> None:  # noqa: ANN002
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", listener)
    try:
        values = _incident()
        values.pop("version")
        with sessions.begin() as session:
            number = _INSERT_INCIDENT.scalar(session.connection(), values)
            assert session.get(Incident, number).version == 0
        assert any(s.startswith("INSERT INTO incidents") for s in seen)
        seen.clear()
        with sessions.begin() as session:
            _INSERT_INCIDENT.scalar(session.connection(), _incident())
        assert not any(s.startswith("INSERT INTO incidents") for s in seen)  # on the cursor
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def test_a_refused_prebuilt_statement_raises_sqlalchemys_error_without_its_values(
    sessions,
) -> None:
    statement = Prebuilt(insert(IncidentMessage.__table__))
    with pytest.raises(exc.IntegrityError) as raised, sessions.begin() as session:
        statement.run(
            session.connection(),
            {"incident_id": None, "direction": "in", "body": "秘密の本文", "created_at": NOW},
        )
    assert "[parameters:" not in str(raised.value)  # the values are never shown
    assert "INSERT INTO incident_messages" in str(raised.value)
