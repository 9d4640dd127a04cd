"""Several processor processes (``[intake] processors``, PostgreSQL): each takes its share of
the stored messages, together they take all, each once; one killed under load is restarted and
nothing is lost or doubled; SQLite refuses more than one (docs/architecture.md, "Supervision")."""

from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import select

from intake.config import ConfigError, load_config
from intake.models import IncidentMessage, RawMessage, RawState
from intake.pipeline import Pipeline
from intake.processor import Processor
from intake.store import store_raw
from scheduler.clock import SystemClock
from tests.daemon import Daemon
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.test_supervision import (
    kill_during_burst,
    mails,
    one_incident_and_ack_each,
    published,
    wait_until_done,
)

PG_ONLY = "two processors need PostgreSQL: the PostgreSQL pass runs this"


def incident_raw_ids(pipeline: Pipeline) -> list[int]:
    """The stored message of each incident, one entry an incident."""
    with pipeline.sessions() as session:
        return sorted(
            session.scalars(
                select(IncidentMessage.raw_message_id).where(IncidentMessage.direction == "in")
            )
        )


def processed_ids(pipeline: Pipeline) -> set[int]:
    with pipeline.sessions() as session:
        return set(
            session.scalars(select(RawMessage.id).where(RawMessage.state == RawState.PROCESSED))
        )


def store_from(pipeline: Pipeline, senders: list[str | None]) -> dict[int, str | None]:
    """One message from each sender given (None: no envelope sender, as IMAP stores); their
    ids and senders."""
    stored = {}
    for n, sender in enumerate(senders):
        body = f"{FIELDS_BLOCK}\nライセンスキーの再発行をお願いします。({n})\n"
        result = store_raw(
            pipeline.sessions, make_mail(body), channel="smtp", profile="helpdesk",
            envelope_from=sender,
        )
        stored[result.id] = sender
    return stored


def test_r29_each_processor_takes_whole_senders_and_together_every_message_once(
    sessions, database_url: str
) -> None:
    """Processor k of n takes the mail of the senders whose share is k: each sender's mail goes
    whole to one processor (so it is processed in the order it came: a staff member's #cancel
    after the answer it cancels), the second of two leaves the first's share alone, and after
    both every message is an incident, once."""
    if database_url.startswith("sqlite"):
        pytest.skip(PG_ONLY)
    pipeline = Pipeline(load_config(None, env={}), sessions)
    # Five senders over consecutive ids: a share by id (id % 2) would split each of them.
    senders = [f"u{n % 5}@example.co.jp" for n in range(20)] + [None, "U1@Example.co.jp"]
    stored = store_from(pipeline, senders)
    second = Processor(pipeline, SystemClock(), workers=0, batch=2, part=(1, 2))
    taken = second.drain(None)
    theirs = processed_ids(pipeline)
    assert 0 < taken == len(theirs) < len(stored)  # a share, not none or all
    by_sender: dict[str | None, set[bool]] = {}
    for raw_id, sender in stored.items():
        key = sender.lower() if sender else sender
        by_sender.setdefault(key, set()).add(raw_id in theirs)
    assert all(len(taken_or_not) == 1 for taken_or_not in by_sender.values()), by_sender
    first = Processor(pipeline, SystemClock(), workers=0, batch=2, part=(0, 2))
    assert first.drain(None) == len(stored) - taken
    assert processed_ids(pipeline) == set(stored)
    assert incident_raw_ids(pipeline) == sorted(stored)  # one incident each: nothing doubled


def test_r29_two_processors_draining_at_once_process_every_message_once(
    sessions, database_url: str
) -> None:
    """Two processors at the same moment on one database (two threads here, two processes in
    the daemon): every message once, none left."""
    if database_url.startswith("sqlite"):
        pytest.skip(PG_ONLY)
    pipeline = Pipeline(load_config(None, env={}), sessions)
    store_from(pipeline, [f"u{n}@example.co.jp" for n in range(40)])
    processors = [
        Processor(pipeline, SystemClock(), workers=0, batch=5, part=(k, 2)) for k in range(2)
    ]
    done: list[int] = []
    threads = [threading.Thread(target=lambda p=p: done.append(p.drain(None))) for p in processors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sum(done) == 40 and all(done)  # both worked
    made = incident_raw_ids(pipeline)
    assert len(made) == len(set(made)) == 40


def test_more_than_one_processor_needs_postgresql(tmp_path) -> None:
    """SQLite takes one writer at a time: ``processors = 2`` there is a configuration error
    (one line for ``check-config``), not a slower daemon."""
    config = tmp_path / "uketsuke.toml"
    config.write_text("[intake]\nprocessors = 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"intake\.processors: 2 processors need PostgreSQL"):
        load_config(config, env={"UKETSUKE_HOME": str(tmp_path)})
    url = "postgresql+psycopg://u@127.0.0.1/x"
    both = load_config(config, env={"UKETSUKE_HOME": str(tmp_path), "UKETSUKE_DATABASE_URL": url})
    assert both.processors == 2
    assert load_config(None, env={"UKETSUKE_HOME": str(tmp_path)}).processors == 1  # automatic
    automatic = load_config(None, env={"UKETSUKE_DATABASE_URL": url})
    assert automatic.processors == (2 if (os.cpu_count() or 1) >= 2 else 1)


def test_r29_kill_9_of_the_second_processor_under_load_loses_and_doubles_nothing(
    daemon: Daemon,
) -> None:
    """PostgreSQL runs two processors (automatic): both are supervised. The second killed with
    ``kill -9`` under load is restarted, /healthz says so meanwhile, and every 250 becomes one
    incident with one acknowledgment."""
    if daemon.database_url.startswith("sqlite"):
        pytest.skip(PG_ONLY)
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: one processor")
    daemon.start()
    state = published(daemon)
    assert state["processes"] == 2 and len(set(state["processor_pids"])) == 2
    messages = mails(200, "second")
    first, victim = state["processor_pids"]
    sender = kill_during_burst(daemon, messages, victim)
    counts = wait_until_done(daemon, len(messages), 120)
    assert counts["processor"] == {
        "alive": True,
        "heartbeat_age_s": counts["processor"]["heartbeat_age_s"],
        "restarts": 1,
        "processes": 2,
    }
    assert published(daemon)["processor_pids"][0] == first  # the first lived on
    assert daemon.terminate() == 0
    one_incident_and_ack_each(daemon, sender.accepted)
    assert "processor 2 of 2 exited (code -9); restarting it" in daemon.log.read_text()
