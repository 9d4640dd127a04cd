"""``uketsuke health``: one line per part and a Nagios-style exit (0 OK, 1 WARNING,
2 CRITICAL) with thresholds from ``[alerts] stuck_minutes`` (issue 15; docs/operations.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from intake import db
from intake.models import MailboxState, OutboxMail, RawMessage
from intake.store import store_raw
from tests.mailmaker import FIELDS_BLOCK, make_mail


def parts(result) -> dict[str, dict]:  # noqa: ANN001
    return {p["part"]: p for p in json.loads(result.stdout)["parts"]}


def write_config(home: Path, text: str) -> Path:
    path = home / "uketsuke.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_health_is_ok_while_the_daemon_runs_and_critical_without_it(daemon) -> None:
    daemon.start()
    daemon.wait_for_heartbeat()
    running = daemon.cli("health")
    assert running.returncode == 0, running.stdout
    lines = running.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "OK database",
        "OK processor",
        "OK outbox",
        "OK waiting",
    ]
    assert daemon.terminate() == 0
    stopped = daemon.cli("health", "--json")
    assert stopped.returncode == 2
    record = json.loads(stopped.stdout)
    assert record["status"] == "CRITICAL"
    assert parts(stopped)["processor"]["state"] == "CRITICAL"
    assert parts(stopped)["database"]["state"] == "OK"


def test_health_judges_waiting_mail_and_the_outbox_by_stuck_minutes(cli) -> None:
    cli.initialized()
    write_config(cli.home, "[alerts]\nstuck_minutes = 10\n")
    engine = db.make_engine(cli.database_url)
    sessions = db.session_factory(engine)
    data = make_mail(FIELDS_BLOCK + "\n質問\n")
    raw = store_raw(sessions, data, channel="smtp", profile="helpdesk")
    now = datetime.now(UTC)

    def waited(minutes: float) -> None:
        with sessions.begin() as session:
            session.execute(
                update(RawMessage)
                .where(RawMessage.id == raw.id)
                .values(received_at=now - timedelta(minutes=minutes))
            )

    def state(part: str) -> str:
        return parts(cli("health", "--json", "--config", str(cli.home / "uketsuke.toml")))[part][
            "state"
        ]

    waited(1)
    assert state("waiting") == "OK"
    waited(6)
    assert state("waiting") == "WARNING"  # half of stuck_minutes
    waited(11)
    assert state("waiting") == "CRITICAL"
    with sessions.begin() as session:
        session.add(
            OutboxMail(
                kind="ack",
                profile="helpdesk",
                message_id="<x@example.jp>",
                recipients=["a@example.co.jp"],
                data=b"x",
                state="pending",
                due_at=now - timedelta(minutes=20),
                created_at=now - timedelta(minutes=20),
            )
        )
    assert state("outbox") == "CRITICAL"
    result = cli("health", "--config", str(cli.home / "uketsuke.toml"))
    assert result.returncode == 2
    assert "CRITICAL waiting: oldest stored message waits 11 min" in result.stdout
    engine.dispose()


def test_health_counts_a_mail_the_relay_keeps_refusing_from_its_first_due_time(cli) -> None:
    """Back-off moves a refused mail's due time into the future; it is still stuck."""
    cli.initialized()
    write_config(cli.home, "[alerts]\nstuck_minutes = 10\n")
    engine = db.make_engine(cli.database_url)
    now = datetime.now(UTC)
    with db.session_factory(engine).begin() as session:
        session.add(
            OutboxMail(
                kind="ack",
                profile="helpdesk",
                message_id="<retried@example.jp>",
                recipients=["a@example.co.jp"],
                data=b"x",
                state="pending",
                attempts=4,
                due_at=now + timedelta(minutes=4),  # the next try, after back-off
                created_at=now - timedelta(minutes=12),
            )
        )
    engine.dispose()
    result = parts(cli("health", "--json", "--config", str(cli.home / "uketsuke.toml")))
    assert result["outbox"]["state"] == "CRITICAL"
    assert result["outbox"]["detail"] == "oldest due mail waits 12 min"


def test_health_names_a_mailbox_without_a_recent_successful_poll(cli) -> None:
    cli.initialized()
    config = write_config(
        cli.home,
        "[alerts]\nstuck_minutes = 15\n\n[[imap]]\nname = \"inbox\"\nhost = \"127.0.0.1\"\n"
        "port = 1\nusername = \"u\"\npassword = \"p\"\nsecurity = \"plain\"\n",
    )
    assert parts(cli("health", "--json", "--config", str(config)))["imap inbox"]["state"] == (
        "WARNING"  # never polled
    )
    engine = db.make_engine(cli.database_url)
    with db.session_factory(engine).begin() as session:
        session.add(
            MailboxState(
                name="inbox",
                last_uid=0,
                last_success_at=datetime.now(UTC) - timedelta(minutes=30),
            )
        )
    engine.dispose()
    result = cli("health", "--config", str(config))
    assert result.returncode == 2
    assert "CRITICAL imap inbox: last successful poll 30 min ago" in result.stdout


def test_health_without_a_database_is_critical_in_one_line_each(tmp_path: Path, cli) -> None:
    result = cli("health")  # no init-db: no database
    assert result.returncode == 2
    assert result.stdout.splitlines()[0].startswith("CRITICAL database: ")


def test_a_successful_poll_is_recorded_for_health(dovecot, sessions) -> None:
    from intake.channels.imap import ImapPoller
    from tests.test_imap import imap_config, mailbox_state, new_folder

    folder = new_folder()
    dovecot.deliver(make_mail(FIELDS_BLOCK + "\n質問\n"), folder=folder)
    before = datetime.now(UTC)
    assert ImapPoller(imap_config(dovecot, folder), sessions, "helpdesk").poll_once() == 1
    recorded = mailbox_state(sessions).last_success_at
    assert recorded is not None and recorded >= before - timedelta(seconds=1)
