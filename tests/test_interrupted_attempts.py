"""What the kill soak found (docs/benchmarks.md, "Soak"): the processor counts an attempt on a
stored message before it tries it, and sets the message aside as unprocessable after 3 attempts
that never ended (R29: a message that kills the processor must not be tried for ever). A
``kill -9`` of the whole daemon ends an attempt the same way, so a message that happens to be in
processing during three such kills is set aside — no incident, no acknowledgment — although
nothing is wrong with it. Fixed (intake/attempts.py): an attempt another daemon run left
unfinished is given back, at most MAX_GIVEN_BACK times, so a message that hangs the processor
(and gets the whole service restarted by the watchdog) is still set aside in the end; one cut
short while the daemon lived on (the processor died) still counts."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from intake import db
from intake.attempts import GIVEN_BACK, MAX_ATTEMPTS, MAX_GIVEN_BACK, begin_attempt
from intake.models import RawMessage
from tests.daemon import Daemon
from tests.peers.dovecot import descendants
from tests.test_two_instances import store_as_instance

HANG_LIMIT = 60.0  # a hang detector, not a speed limit
LARGE = 8 << 20  # bytes: long enough in processing for the kill to come while it lasts


class Rows:
    """Reads one raw row again and again on one connection pool (a tight poll)."""

    def __init__(self, database_url: str, raw_id: int) -> None:
        self.engine = db.make_engine(database_url)
        self.raw_id = raw_id

    def now(self) -> RawMessage:
        with db.session_factory(self.engine)() as session:
            raw = session.get(RawMessage, self.raw_id)
            assert raw is not None
            return raw

    def once(self, until: Callable[[RawMessage], bool], daemon: Daemon) -> RawMessage:
        deadline = time.monotonic() + HANG_LIMIT
        while not until(raw := self.now()):
            assert time.monotonic() < deadline, daemon.tail()
            time.sleep(0.005)
        return raw


def kill_9_everything(daemon: Daemon) -> None:
    """``kill -9`` of the daemon and its processes at once, as when the machine or the service's
    control group goes (the daemon's children would otherwise go on for up to a second)."""
    assert daemon.process is not None
    for pid in [daemon.process.pid, *descendants(daemon.process.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    daemon.process.wait(10)


def test_r29_three_kill_9_of_the_daemon_during_one_message_never_set_it_aside(
    tmp_path: Path, database_url: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    daemon = Daemon(home, database_url)
    assert daemon.cli("init-db").returncode == 0
    rows = Rows(database_url, store_as_instance(home, database_url, size=LARGE))
    try:
        for round_ in (0, 1, 2):
            daemon.start()
            # This run's attempt is under way: the first counted, the next ones given back.
            wanted = None if round_ == 0 else f"{GIVEN_BACK}{round_}"
            rows.once(lambda raw, w=wanted: raw.attempts == 1 and raw.last_error == w, daemon)
            kill_9_everything(daemon)  # while the message is being processed
            killed = rows.now()
            # Cut short, and the attempts the dead daemons left were given back: one counted.
            assert (killed.state, killed.attempts) == ("received", 1)
        daemon.start()
        raw = rows.once(lambda raw: raw.state != "received", daemon)
        assert daemon.terminate() == 0
    finally:
        daemon.close()
        rows.engine.dispose()
    assert raw.state == "processed", (raw.state, raw.attempts, raw.last_error)


def test_r29_attempts_of_dead_daemons_are_given_back_within_a_bound(sessions) -> None:
    """Each first processor of a daemon run that finds an unfinished attempt gives it back, at most
    MAX_GIVEN_BACK times; then they count, so a message that hangs the processor (the watchdog
    restarts the whole service each time) is still set aside."""
    from datetime import UTC, datetime

    from intake.store import store_raw
    from tests.mailmaker import FIELDS_BLOCK, make_mail

    raw_id = store_raw(sessions, make_mail(FIELDS_BLOCK + "\n質問\n"), channel="smtp").id
    now = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    engine = sessions.kw["bind"]
    seen = []
    for _ in range(MAX_GIVEN_BACK + MAX_ATTEMPTS + 1):  # each a new daemon's first processor
        tried = begin_attempt(engine, [raw_id], now, give_back=True)
        with sessions() as session:
            raw = session.get(RawMessage, raw_id)
            seen.append((bool(tried), raw.state, raw.attempts))
    given_back = [(True, "received", 1)] * (MAX_GIVEN_BACK + 1)
    counted = [(True, "received", n) for n in range(2, MAX_ATTEMPTS + 1)]
    assert seen == [*given_back, *counted, (False, "unprocessable", MAX_ATTEMPTS)]
    with sessions() as session:
        assert session.get(RawMessage, raw_id).last_error.startswith("Interrupted")


def test_r29_attempts_cut_short_within_one_daemon_run_count(sessions) -> None:
    """The processor died while the daemon lived on (a restarted processor of the same run):
    the message may be to blame, so every unfinished attempt counts, as before."""
    from datetime import UTC, datetime

    from intake.store import store_raw
    from tests.mailmaker import FIELDS_BLOCK, make_mail

    raw_id = store_raw(sessions, make_mail(FIELDS_BLOCK + "\n質問\n"), channel="smtp").id
    now = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    engine = sessions.kw["bind"]
    assert [bool(begin_attempt(engine, [raw_id], now)) for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]


def test_r29_a_batch_never_tried_counts_its_first_attempt_in_one_statement(sessions) -> None:
    """The usual batch: one UPDATE … RETURNING counts the first attempt of every message still
    received and untried; one tried meanwhile, or finished, is left to the next round."""
    from sqlalchemy import update

    from intake.attempts import begin_first_attempt
    from intake.store import store_raw
    from tests.mailmaker import FIELDS_BLOCK, make_mail

    ids = [
        store_raw(sessions, make_mail(FIELDS_BLOCK + f"\n質問 {n}\n"), channel="smtp").id
        for n in range(4)
    ]
    with sessions.begin() as session:
        session.execute(update(RawMessage).where(RawMessage.id == ids[1]).values(attempts=1))
        session.execute(update(RawMessage).where(RawMessage.id == ids[2]).values(state="processed"))
    engine = sessions.kw["bind"]
    assert begin_first_attempt(engine, ids) == [ids[0], ids[3]]
    assert begin_first_attempt(engine, ids) == []  # counted and committed
    with sessions() as session:
        attempts = {r.id: r.attempts for r in session.query(RawMessage)}
    assert [attempts[i] for i in ids] == [1, 1, 0, 1]
