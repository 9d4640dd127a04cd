"""Write-behind (intake.writebehind): on PostgreSQL the processor's result-less statements are
queued in psycopg's pipeline mode; what is written, what is read and what fails stay as they
were. Every test runs on both databases (SQLite: the scope changes nothing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import exc, func, select, text

from intake.config import load_config
from intake.incidents import _INSERT_INCIDENT
from intake.models import Incident, IncidentMessage, OutboxMail, RawMessage, RawState, TimedAction
from intake.outcomes import Processed
from intake.pipeline import Pipeline
from intake.states import OutboxKind
from intake.store import store_raw
from intake.targets import _INSERT_TIMER
from intake.writebehind import write_behind
from responder.outbox import (
    _COUNT_AUTOMATIC,
    _INSERT_OUTBOX,
    automatic_mails_in_last_hour,
    count_ahead,
    queue_bytes,
)
from scheduler.calendar import TOKYO
from tests.mailmaker import FIELDS_BLOCK, make_mail

NOW = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
OPEN = datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)  # a Tuesday morning: the desk is open


def _outbox(number: int, recipient: str = "a@example.jp") -> dict:
    return {
        "kind": "ack", "profile": "helpdesk", "incident_id": None,
        "message_id": f"<wb{number}@example.jp>", "recipients": [recipient], "automatic": True,
        "rate_key": recipient, "data": b"mail", "due_at": NOW, "created_at": NOW,
        "state": "pending", "attempts": 0, "late": False,
    }  # fmt: skip


def _pipelined(connection) -> bool:  # noqa: ANN001
    driver = connection.connection.driver_connection
    return getattr(driver, "_pipeline", None) is not None


def test_queued_rows_are_seen_by_the_next_read_and_committed(sessions) -> None:
    postgres = sessions.kw["bind"].dialect.name == "postgresql"
    with sessions.begin() as session:
        connection = session.connection()
        with write_behind(connection):
            _INSERT_OUTBOX.run(connection, _outbox(1))
            _INSERT_OUTBOX.run(connection, _outbox(2))
            assert _pipelined(connection) is postgres  # queued, not waited for
            since = {"recipient": "a@example.jp", "since": NOW - timedelta(hours=1)}
            assert _COUNT_AUTOMATIC.scalar(connection, since) == 2  # sent with the queue
            _INSERT_OUTBOX.run(connection, _outbox(3))
            # A query SQLAlchemy runs itself settles the queue first, then runs plainly.
            assert session.scalar(select(func.count()).select_from(OutboxMail)) == 3
            assert not _pipelined(connection)
        assert not _pipelined(connection)
    with sessions() as session:
        assert session.scalars(select(OutboxMail.message_id).order_by(OutboxMail.id)).all() == [
            "<wb1@example.jp>", "<wb2@example.jp>", "<wb3@example.jp>"
        ]  # fmt: skip


def test_a_queued_statements_error_is_raised_at_the_scope_end_and_nothing_commits(
    sessions,
) -> None:
    timer = {"kind": "sla_due", "due_at": NOW, "state": "pending", "incident_id": 999_999,
             "inquiry_id": None, "payload": {}, "attempts": 0, "created_at": NOW}  # fmt: skip
    with pytest.raises(exc.IntegrityError), sessions.begin() as session:  # no such incident
        connection = session.connection()
        with write_behind(connection):
            _INSERT_OUTBOX.run(connection, _outbox(1))
            _INSERT_TIMER.run(connection, timer)
            _INSERT_OUTBOX.run(connection, _outbox(2))
    with sessions() as session:  # the connection is usable again, and nothing was written
        assert session.scalar(select(func.count()).select_from(OutboxMail)) == 0
        assert session.scalar(select(func.count()).select_from(TimedAction)) == 0


def test_a_scope_never_commits_an_aborted_transaction(sessions) -> None:
    """An error caught and ignored inside the scope still stops the commit: on PostgreSQL a
    COMMIT of an aborted transaction would be a silent rollback."""
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite has no aborted transaction state")
    with pytest.raises(exc.DBAPIError), sessions.begin() as session:
        connection = session.connection()
        with write_behind(connection):
            _INSERT_OUTBOX.run(connection, _outbox(1))
            with pytest.raises(exc.DBAPIError):
                connection.execute(text("SELECT 1/0"))
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMail)) == 0


def _refuse(engine, table: str, condition: str) -> None:  # noqa: ANN001
    """A server-side failure of one INSERT on the intake path: a trigger refuses the rows of
    ``table`` that meet ``condition`` (as a constraint, a full disk or a bug would)."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql(
                f"CREATE TRIGGER refuse BEFORE INSERT ON {table} WHEN {condition} "
                "BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
            )
            return
        connection.exec_driver_sql(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF {condition.replace('%', '%%')} THEN RAISE EXCEPTION 'poisoned'; END IF; "
            "RETURN NEW; END $$"
        )
        connection.exec_driver_sql(
            f"CREATE TRIGGER refuse BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION refuse()"
        )


POISONED = "dokuiri@example.co.jp"


@pytest.mark.parametrize(
    ("table", "condition", "poisoned"),
    [
        # in the middle of the batch; on PostgreSQL its error arrives with the message's next read
        ("incident_messages", "NEW.body LIKE '%毒入り%'", 1),
        # the last message's acknowledgment: on PostgreSQL its error arrives when the batch's
        # queue is settled, after every message ran
        ("outbox", f"NEW.rate_key = '{POISONED}'", 2),
    ],
)
def test_r29_a_write_refused_by_the_database_sets_its_message_aside_and_its_batch_goes_on(
    sessions, table: str, condition: str, poisoned: int
) -> None:
    """The refused INSERT is queued (PostgreSQL), so its error arrives after the statement
    that caused it: the batch runs again with each message alone, and only that one is set
    aside; the others become incidents with one acknowledgment each."""
    _refuse(sessions.kw["bind"], table, condition)
    bodies = ["ログインできません。", "毒入りの質問です。", "印刷できません。"]
    senders = ["yamada@example.co.jp", "yamada@example.co.jp", POISONED]
    ids = [
        store_raw(
            sessions, make_mail(FIELDS_BLOCK + f"\n{body}\n", sender=sender), channel="smtp"
        ).id
        for body, sender in zip(bodies, senders, strict=True)
    ]
    states = Pipeline(load_config(None, env={}), sessions).process_batch(ids, OPEN)
    assert states == {
        raw_id: RawState.UNPROCESSABLE if n == poisoned else RawState.PROCESSED
        for n, raw_id in enumerate(ids)
    }
    with sessions() as session:
        assert "poisoned" in session.get(RawMessage, ids[poisoned]).last_error
        made = select(IncidentMessage.raw_message_id).where(IncidentMessage.direction == "in")
        assert sorted(session.scalars(made)) == [i for n, i in enumerate(ids) if n != poisoned]
        assert session.scalar(select(func.count()).select_from(Incident)) == 2
        acks = session.scalars(select(OutboxMail.incident_id).where(OutboxMail.kind == "ack"))
        assert len(acks.all()) == 2  # one acknowledgment each, none for the set-aside message


def test_r29_a_write_error_arriving_after_the_messages_steps_still_sets_only_it_aside(
    sessions,
) -> None:
    """The failing write is a message's last before its outcome: on PostgreSQL its error
    arrives with the outcome's UPDATE or when the batch's queue is settled, outside the
    message's own steps. The batch still runs again with each message alone."""
    bad_timer = {"kind": "sla_due", "due_at": NOW, "state": "pending", "incident_id": 999_999,
                 "inquiry_id": None, "payload": {}, "attempts": 0, "created_at": NOW}  # fmt: skip

    def step(ctx) -> None:  # noqa: ANN001
        if POISONED.encode() in ctx.raw.data:
            _INSERT_TIMER.run(ctx.session.connection(), bad_timer)  # no such incident
        raise Processed("test")

    ids = [
        store_raw(
            sessions, make_mail(f"{n}つめ\n", sender=sender), channel="smtp", profile="helpdesk"
        ).id  # its profile known: nothing for the session to flush after the steps
        for n, sender in enumerate(("yamada@example.co.jp", "yamada@example.co.jp", POISONED))
    ]
    pipeline = Pipeline(load_config(None, env={}), sessions, steps=(step,))
    states = pipeline.process_batch(ids, OPEN)
    assert states == {
        ids[0]: RawState.PROCESSED, ids[1]: RawState.PROCESSED, ids[2]: RawState.UNPROCESSABLE
    }  # fmt: skip
    with sessions() as session:
        assert session.get(RawMessage, ids[2]).last_error.startswith("IntegrityError")
        assert session.scalar(select(func.count()).select_from(TimedAction)) == 0


def test_reads_sent_one_after_another_are_answered_in_order(sessions) -> None:
    """Prebuilt.send: the incidents of one inquiry are sent before the first number is read;
    each answer is its own statement's."""
    from tests.test_fastsql import _incident

    with sessions.begin() as session:
        connection = session.connection()
        with write_behind(connection):
            sent = [
                _INSERT_INCIDENT.send(connection, _incident(subject=f"件名{n}")) for n in range(3)
            ]
            numbers = [pending.scalar() for pending in sent]
            assert numbers == sorted(numbers) and len(set(numbers)) == 3
    with sessions() as session:
        subjects = dict(session.execute(select(Incident.id, Incident.subject)).all())
    assert [subjects[n] for n in numbers] == ["件名0", "件名1", "件名2"]


def test_r27_a_count_sent_ahead_is_not_used_once_a_mail_to_that_address_is_queued(
    sessions,
) -> None:
    with sessions.begin() as session:
        connection = session.connection()
        with write_behind(connection), count_ahead(session, "A@example.jp", NOW):
            _INSERT_OUTBOX.run(connection, _outbox(1))  # not through queue_bytes: unseen
            queue_bytes(
                session, kind=OutboxKind.ACK, profile="helpdesk", recipients=["a@example.jp"],
                data=b"mail", message_id="<wb2@example.jp>", now=NOW,
            )  # fmt: skip
            # The count sent ahead (0) is dropped: counted again, both mails are seen.
            assert automatic_mails_in_last_hour(session, "a@example.jp", NOW) == 2
        with count_ahead(session, "a@example.jp", NOW):
            _INSERT_OUTBOX.run(connection, _outbox(3))
            assert automatic_mails_in_last_hour(session, "b@example.jp", NOW) == 0
            assert automatic_mails_in_last_hour(session, "a@example.jp", NOW) == 2  # as sent
            assert automatic_mails_in_last_hour(session, "a@example.jp", NOW) == 3  # used once
