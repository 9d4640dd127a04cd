"""SQLite writers take turns through an flock; readers take no lock (R29: the doors' commits are
never starved by the processor's)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, text

from intake import db
from intake.config import Config
from intake.models import Base, RawMessage
from intake.pipeline import Pipeline
from intake.store import store_raw
from tests.mailmaker import FIELDS_BLOCK, make_mail


def _engine(path: Path, timeout: float = 30):
    engine = db.make_engine(f"sqlite:///{path}", connect_args={"timeout": timeout})
    Base.metadata.create_all(engine)
    return engine


def test_writers_wait_for_their_turn_and_proceed_after_commit(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "u.db")
    sessions = db.session_factory(engine)
    order: list[str] = []
    with sessions.begin() as session:
        session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: this thread holds the turn
        assert Path(f"{tmp_path / 'u.db'}.writer").exists()

        def door() -> None:
            store_raw(sessions, b"Subject: x\r\n\r\nbody\r\n", channel="smtp")
            order.append("door stored")

        waiting = threading.Thread(target=door)
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive()  # waits for the turn, not failing with "database is locked"
        order.append("first committed")
    waiting.join(30)
    assert order == ["first committed", "door stored"]
    engine.dispose()


def test_a_writer_in_another_process_waits_for_the_turn(tmp_path: Path) -> None:
    path = tmp_path / "u.db"
    engine = _engine(path)
    sessions = db.session_factory(engine)
    script = (
        "import sys; from intake import db; from intake.store import store_raw\n"
        f"s = db.session_factory(db.make_engine('sqlite:///{path}'))\n"
        "print(store_raw(s, b'Subject: y\\r\\n\\r\\nz\\r\\n', channel='smtp').id, flush=True)\n"
    )
    with sessions.begin() as session:
        session.execute(text("SELECT 1"))
        other = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)
        assert other.poll() is None  # still waiting: this process holds the turn
    out, _ = other.communicate(timeout=60)
    assert other.returncode == 0 and out.strip() == "1"
    engine.dispose()


def test_readers_take_no_write_lock(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "u.db", timeout=0.2)
    sessions = db.session_factory(engine)
    reads = db.read_sessions(sessions)
    with sessions.begin() as writer:
        writer.execute(text("SELECT 1"))  # holds the write lock
        with reads() as reader:  # a deferred BEGIN: neither waits nor fails
            assert reader.scalar(select(func.count()).select_from(RawMessage)) == 0
    engine.dispose()


def test_nested_writer_in_one_thread_does_not_wait_for_itself(tmp_path: Path) -> None:
    """A thread that already holds the turn and opens a second writer gets SQLite's answer
    (busy timeout, then "database is locked") rather than waiting for itself forever."""
    engine = _engine(tmp_path / "u.db", timeout=0.2)
    sessions = db.session_factory(engine)
    failed = False
    with sessions.begin() as outer:
        outer.execute(text("SELECT 1"))
        try:
            with sessions.begin() as inner:
                inner.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001
            failed = "locked" in str(exc)
    assert failed
    with sessions.begin() as again:  # the turn was given back: writing works
        again.execute(text("SELECT 1"))
    engine.dispose()


def test_holder_sees_a_waiting_writer_and_yields(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "u.db")
    sessions = db.session_factory(engine)
    waiting = db.writer_waiting(engine)
    assert waiting is not None
    with sessions.begin() as session:
        session.execute(text("SELECT 1"))
        assert not waiting()  # nobody waits
        door = threading.Thread(
            target=lambda: store_raw(sessions, b"Subject: w\r\n\r\nx\r\n", channel="smtp")
        )
        door.start()
        deadline = time.monotonic() + 10
        while not waiting() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert waiting()  # the door's wait is visible to the holder
    door.join(30)
    assert not door.is_alive()
    engine.dispose()


def test_processor_batch_commits_early_for_a_waiting_writer(tmp_path: Path) -> None:
    """Pipeline.process_some ends its transaction after the message under way when a writer
    waits, and hands back the rest, which a later turn processes (nothing skipped)."""

    engine = _engine(tmp_path / "u.db")
    sessions = db.session_factory(engine)
    ids = [
        store_raw(sessions, make_mail(FIELDS_BLOCK + f"質問 {i} です。\n"), channel="smtp").id
        for i in range(5)
    ]
    pipeline = Pipeline(Config(home=str(tmp_path)), sessions)
    asked: list[int] = []

    def someone_waits() -> bool:
        asked.append(1)
        return len(asked) >= 2  # after the second message

    states, left = pipeline.process_some(ids, datetime.now(UTC), should_yield=someone_waits)
    assert list(states) == ids[:2] and left == ids[2:]
    states, left = pipeline.process_some(left, datetime.now(UTC))
    assert list(states) == ids[2:] and left == []
    with sessions() as session:
        assert set(session.scalars(select(RawMessage.state))) == {"processed"}
    engine.dispose()
