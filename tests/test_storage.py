"""Storage: migrations match the models, SQLite pragmas, aware timestamps, both engines."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import LargeBinary, bindparam, func, insert, select, text
from sqlalchemy import inspect as sa_inspect

from intake import db
from intake.models import Base, Customer, OutboxMail, RawMessage, in_models
from intake.store import Stored, content_hash, header_message_id, store_raw
from scheduler.calendar import TOKYO
from tests.mailmaker import FIELDS_BLOCK, make_mail


def test_migrations_create_the_schema_the_models_describe(database_url: str) -> None:
    engine = db.make_engine(database_url)
    assert db.current_revision(engine) is None
    head = db.upgrade(engine)
    assert head is not None
    assert db.upgrade(engine) == head  # idempotent: migrate on an up-to-date schema does nothing
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": in_models}
        )
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x' / 'u.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()


def test_r12_timestamps_come_back_aware_in_utc(sessions) -> None:
    received = datetime(2026, 11, 24, 17, 0, 0, tzinfo=TOKYO)
    with sessions.begin() as session:
        session.add(
            RawMessage(
                channel="smtp", content_hash="x" * 64, size=3, data=b"abc", received_at=received
            )
        )
    with sessions() as session:
        row = session.scalars(select(RawMessage)).one()
        assert row.received_at == received
        assert row.received_at.utcoffset() == timedelta(0)
        assert row.data == b"abc"


def test_r16_outbox_rows_keep_due_time_and_state(sessions) -> None:
    due = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    with sessions.begin() as session:
        session.add(
            OutboxMail(
                kind="ack",
                profile="helpdesk",
                message_id="<a@b>",
                data=b"x",
                recipients=["c@example.jp"],
                due_at=due,
            )
        )
    with sessions() as session:
        mail = session.scalars(select(OutboxMail)).one()
        assert (mail.state, mail.due_at, mail.attempts, mail.recipients) == (
            "pending",
            due,
            0,
            ["c@example.jp"],
        )


def test_customer_numbers_are_unique(sessions) -> None:
    import pytest
    from sqlalchemy.exc import IntegrityError

    with sessions.begin() as session:
        session.add(Customer(number="C-1", company="A"))
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(Customer(number="C-1", company="B"))


def test_r29_group_commit_answers_each_request_and_isolates_a_bad_one(sessions) -> None:
    from intake.groupcommit import GroupCommit
    from intake.store import Incoming

    group = GroupCommit(sessions)
    try:
        good = [
            group.submit(
                [Incoming(f"Message-ID: <g{n}@x>\r\n\r\nbody".encode(), profile="helpdesk")]
            )
            for n in range(20)
        ]
        bad = group.submit([Incoming(None, profile="helpdesk")])  # type: ignore[arg-type]
        again = group.submit([Incoming(b"Message-ID: <g1@x>\r\n\r\nbody", profile="helpdesk")])
        ids = [f.result(10)[0].id for f in good]
        assert len(set(ids)) == 20
        import pytest

        with pytest.raises(TypeError):
            bad.result(10)
        assert again.result(10)[0].id == ids[1] and again.result(10)[0].duplicate
    finally:
        group.close()
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RawMessage)) == 20


def test_group_commit_keeps_one_connection_and_replaces_a_broken_one(sessions) -> None:
    """The door's writer thread checks a connection out once, not once a batch (on PostgreSQL
    each check-out costs a pre-ping round trip); after a failure it takes a fresh one."""
    from sqlalchemy import event

    from intake.groupcommit import GroupCommit
    from intake.store import Incoming

    engine = sessions.kw["bind"]
    checkouts: list[int] = []
    event.listen(engine, "checkout", lambda dbapi, *_: checkouts.append(id(dbapi)))
    group = GroupCommit(sessions)
    try:
        for n in range(5):  # one after another: five batches
            message = f"Message-ID: <k{n}@x>\r\n\r\nbody".encode()
            assert not group.submit([Incoming(message, profile="helpdesk")]).result(10)[0].duplicate
        assert len(checkouts) == 1
        bad = group.submit([Incoming(None, profile="helpdesk")])  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            bad.result(10)
        message = b"Message-ID: <k9@x>\r\n\r\nbody"
        assert group.submit([Incoming(message, profile="helpdesk")]).result(10)[0].id
        assert len(checkouts) == 2  # the failed batch dropped its connection: a fresh one
    finally:
        group.close()
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RawMessage)) == 6


def test_r29_two_group_commit_writers_store_each_message_once(sessions) -> None:
    """Two writer threads (PostgreSQL's door) share the queue: every request is answered with
    its row, and copies of one message sent at the same moment end in one row."""
    from intake.groupcommit import GroupCommit
    from intake.store import Incoming

    group = GroupCommit(sessions, writers=2)
    try:
        futures = []
        for n in range(60):  # 20 distinct messages, each submitted three times
            message = f"Message-ID: <w{n % 20}@x>\r\n\r\nbody {n % 20}".encode()
            futures.append((n % 20, group.submit([Incoming(message, profile="helpdesk")])))
        ids: dict[int, set[int]] = {}
        for key, future in futures:
            ids.setdefault(key, set()).add(future.result(30)[0].id)
    finally:
        group.close()
    assert all(len(found) == 1 for found in ids.values())  # every copy got the same row
    assert len({row for found in ids.values() for row in found}) == 20
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RawMessage)) == 20


def test_r29_a_fresh_batch_is_one_insert_and_a_copy_is_still_found(sessions) -> None:
    """The acceptance path inserts at once (no look-up first: one round trip less before the
    250); when the unique index refuses a copy, the batch is looked up and stored carefully."""
    from sqlalchemy import event

    from intake.store import Incoming, store_raw_many

    statements: list[str] = []
    event.listen(
        sessions.kw["bind"],
        "before_cursor_execute",
        lambda _c, _cur, sql, *_: statements.append(sql.split()[0].upper()),
    )
    batch = [
        Incoming(f"Message-ID: <f{n}@x>\r\n\r\nbody {n}".encode(), profile="helpdesk")
        for n in range(3)
    ]
    first = store_raw_many(sessions, batch)
    # INSERTs only (one multi-row statement on PostgreSQL; SQLite returns ids row by row)
    assert {s for s in statements if s in ("SELECT", "INSERT")} == {"INSERT"}
    assert not any(stored.duplicate for stored in first)
    again = batch[1:] + [Incoming(b"Message-ID: <f9@x>\r\n\r\nnew", profile="helpdesk")]
    second = store_raw_many(sessions, again)
    assert second[:2] == [Stored(first[1].id, True), Stored(first[2].id, True)]
    assert not second[2].duplicate
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RawMessage)) == 4


def test_raw_bytes_are_stored_uncompressed_on_postgresql(database_url: str) -> None:
    """Migration 0003: PostgreSQL keeps raw mail out of line without pglz (the SMTP door's
    commit no longer compresses); migration 0020 keeps it so in ``raw_bytes``; downgrading
    below 0003 restores the default. SQLite: nothing to do."""
    engine = db.make_engine(database_url)
    db.upgrade(engine)

    def storage(table: str) -> str:
        with engine.connect() as connection:
            return str(
                connection.exec_driver_sql(
                    "SELECT attstorage FROM pg_attribute"
                    f" WHERE attrelid = '{table}'::regclass AND attname = 'data'"
                ).scalar()
            )

    postgresql = engine.dialect.name == "postgresql"
    if postgresql:
        assert storage("raw_bytes") == "e"  # EXTERNAL
    command.downgrade(db.alembic_config(engine), "0019")
    if postgresql:
        assert storage("raw_messages") == "e"  # the column is back, as 0003 left it
    command.downgrade(db.alembic_config(engine), "0002")
    assert db.current_revision(engine) == "0002"
    if postgresql:
        assert storage("raw_messages") == "x"  # EXTENDED, the default
    assert db.upgrade(engine) not in (None, "0002")
    engine.dispose()


def test_raw_bytes_move_to_their_own_table_and_back(database_url: str) -> None:
    """Migration 0020 moves each stored message's bytes into ``raw_bytes`` (a spooled one has
    none) and drops the column in place, on a database in use; its downgrade puts them back."""
    engine = db.make_engine(database_url)
    command.upgrade(db.alembic_config(engine), "0019")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO raw_messages (id, channel, received_at, envelope_to, content_hash,"
                " size, data, spool, state, attempts) VALUES"
                " (1, 'smtp', '2026-12-05 01:00:00+00', '[]', 'h', 5, :data, NULL, 'received', 0),"
                " (2, 'smtp', '2026-12-05 01:00:00+00', '[]', 'i', 9, NULL, 'f.eml', 'received', 0)"
            ).bindparams(bindparam("data", type_=LargeBinary)),
            {"data": b"hello"},
        )
        # A row referring to it: the move must not copy, drop and rename raw_messages (on
        # SQLite the drop would delete the rows first, which this reference forbids).
        connection.execute(
            text(
                "INSERT INTO inquiries (raw_message_id, profile, channel, state, fields, missing,"
                " created_at) VALUES (1, 'helpdesk', 'smtp', 'held', '{}', '[]',"
                " '2026-12-05 01:00:00+00')"
            )
        )
    db.upgrade(engine)
    with engine.connect() as connection:
        moved = connection.exec_driver_sql("SELECT raw_message_id, data FROM raw_bytes").all()
        columns = {c["name"] for c in sa_inspect(connection).get_columns("raw_messages")}
    assert [(row[0], bytes(row[1])) for row in moved] == [(1, b"hello")]
    assert "data" not in columns
    command.downgrade(db.alembic_config(engine), "0019")
    with engine.connect() as connection:
        back = connection.exec_driver_sql("SELECT id, data FROM raw_messages ORDER BY id").all()
    assert [(row[0], bytes(row[1]) if row[1] is not None else None) for row in back] == [
        (1, b"hello"),
        (2, None),
    ]
    engine.dispose()


def test_daemon_commits_leave_the_wal_to_an_explicit_checkpoint(tmp_path) -> None:
    """The daemon's engines do not checkpoint at commit (no stall inside a writer's turn before
    a 250); :func:`db.checkpoint` copies the WAL into the database file without a write turn."""
    path = tmp_path / "u.db"
    engine = db.make_engine(f"sqlite:///{path}", autocheckpoint=False)
    Base.metadata.create_all(engine)
    before = path.stat().st_size
    sessions = db.session_factory(engine)
    for _ in range(6):  # 6 MB: past SQLite's default checkpoint point (1000 pages, 4 MB)
        with sessions.begin() as session:
            session.add(
                RawMessage(
                    channel="smtp",
                    content_hash="x" * 64,
                    size=2**20,
                    data=bytes(2**20),
                    received_at=datetime.now(UTC),
                )
            )
    assert path.stat().st_size == before  # all of it still in the WAL
    db.checkpoint(engine)
    assert path.stat().st_size > before + 6 * 2**20
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RawMessage)) == 6
    engine.dispose()


def test_r29_one_mail_stored_by_two_doors_at_once_is_one_row(sessions) -> None:
    """The SMTP and the IMAP copy of one mail, stored at the same instant: the second door's
    look-up runs before the first commits, yet only one row is kept and both get its id
    (PostgreSQL: the unique index refuses the second insert; SQLite: writers take turns)."""
    data = make_mail(f"{FIELDS_BLOCK}\n同時に届いたメールです。\n")
    engine = sessions.kw["bind"]
    first = engine.connect()
    first.begin()
    first_id = first.execute(
        insert(RawMessage.__table__).returning(RawMessage.__table__.c.id),
        {
            "channel": "imap",
            "profile": "helpdesk",
            "envelope_to": [],
            "message_id": header_message_id(data),
            "content_hash": content_hash(data),
            "size": len(data),
            "state": "received",
            "attempts": 0,
            "received_at": datetime.now(UTC),
        },
    ).scalar_one()
    second: list[Stored] = []
    door = threading.Thread(
        target=lambda: second.append(store_raw(sessions, data, channel="smtp", profile="helpdesk"))
    )
    door.start()
    door.join(0.5)  # the second door is now waiting for the first (lock or unique index)
    first.commit()
    first.close()
    door.join(30)
    assert second == [Stored(first_id, True)]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RawMessage)) == 1


def test_r18_a_follow_up_finds_its_incidents_auto_close_timer_by_index(engine) -> None:
    """A follow-up cancels its incident's pending auto-close timer (R18): the look-up goes
    through the incident's own timers, not through every pending timer of the desk (which grew
    with every open incident: 15 % of the processor's time on a backlog of 4,000)."""

    from intake.incidents import _CANCEL_AUTO_CLOSE

    compiled = _CANCEL_AUTO_CLOSE.statement.compile(engine)
    params = compiled.construct_params({"target": 5, "now": None})
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            ordered = tuple(params[name] for name in compiled.positiontup or ())
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", ordered)
            plan = " ".join(row[3] for row in rows)
        else:
            connection.execute(text("SET enable_seqscan = off"))
            rows = connection.exec_driver_sql(f"EXPLAIN {compiled}", params)
            plan = " ".join(row[0] for row in rows)
    assert "ix_timed_actions_incident" in plan, plan
