"""`uketsuke timers list`, `outbox list/hold/release`: the durable schedule as staff see it, and
their control of a scheduled key mail (R15, R16, R26, R30)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from intake import db
from intake.models import AuditEntry, Incident, Inquiry, OutboxMail, TimedAction
from responder.compose import OutgoingMail, compose, new_message_id
from responder.outbox import Dispatcher
from responder.transports import MaildirTransport
from scheduler.calendar import TOKYO
from tests.conftest import Cli

NOW = datetime(2026, 12, 8, 10, 0, tzinfo=TOKYO)
ISO_TOKYO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00")
TIMER_KEYS = ["id", "kind", "incident", "inquiry", "due_at", "state", "held", "done_at"]
OUTBOX_KEYS = [
    "id", "kind", "profile", "to", "subject", "incident", "due_at", "state", "sent_at", "late",
    "attempts", "last_error",
]  # fmt: skip


@pytest.fixture
def queue_cli(cli: Cli) -> Cli:
    cli.migrated()
    return cli


@pytest.fixture
def database(queue_cli: Cli, database_url: str) -> Iterator[Engine]:
    """The migrated database of ``queue_cli``, for rows the daemon would have written."""
    engine = db.make_engine(database_url)
    yield engine
    engine.dispose()


def add(database: Engine, *rows: Any) -> list[int]:
    """Commits ``rows`` in order (one flush each, so ids follow the order); returns their ids."""
    with db.session_factory(database).begin() as session:
        for row in rows:
            session.add(row)
            session.flush()
        return [row.id for row in rows]


def incident(database: Engine) -> int:
    [number] = add(database, Incident(profile="desknet", channel="email", created_at=NOW))
    return number


def mail(
    number: int | None,
    due_at: datetime,
    *,
    kind: str = "license_key",
    state: str = "pending",
    subject: str = "【サポート】ライセンスキーのお知らせ",
    charset: str = "iso-2022-jp",
    **columns: Any,
) -> OutboxMail:
    """An outbox row as the responder queues it: composed bytes, Japanese subject (R28)."""
    message_id = new_message_id("support@support.example.jp")
    data = compose(
        OutgoingMail(
            sender="support@support.example.jp",
            sender_name="サポートセンター",
            to=["yamada@example.jp"],
            subject=f"[#{number}] {subject}" if number else subject,
            body="ライセンスキーをお送りします。\n",
            message_id=message_id,
            date=NOW,
            charset=charset,
            profile="desknet",
        )
    )
    return OutboxMail(
        kind=kind,
        profile="desknet",
        incident_id=number,
        message_id=message_id,
        recipients=["yamada@example.jp"],
        data=columns.pop("data", data),
        state=state,
        due_at=due_at,
        created_at=NOW,
        **columns,
    )


def json_lines(cli: Cli, *args: str) -> list[dict[str, Any]]:
    result = cli(*args, "--json")
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def outbox_state(database: Engine, mail_id: int) -> str:
    with Session(database) as session:
        return session.scalars(select(OutboxMail.state).where(OutboxMail.id == mail_id)).one()


def audit(database: Engine) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    with Session(database) as session:
        return [
            (a.actor, a.action, a.target, a.detail)
            for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]


def test_r16_timers_list_shows_timed_actions_and_key_mails_by_due_time(
    queue_cli: Cli, database: Engine
) -> None:
    number = incident(database)
    [inquiry] = add(database, Inquiry(profile="desknet", channel="email", created_at=NOW))
    close, expiry, cancelled = add(
        database,
        TimedAction(kind="auto_close", due_at=NOW + timedelta(days=7), incident_id=number),
        TimedAction(
            kind="held_expiry",
            due_at=NOW - timedelta(days=1),
            inquiry_id=inquiry,
            state="done",
            done_at=NOW - timedelta(days=1) + timedelta(seconds=3),
        ),
        TimedAction(kind="page", due_at=NOW + timedelta(hours=1), state="cancelled"),
    )
    due, held, sent, ack = add(
        database,
        mail(number, datetime(2026, 12, 9, 9, 0, tzinfo=TOKYO)),
        mail(number, datetime(2026, 12, 8, 17, 0, tzinfo=TOKYO), state="held"),
        mail(number, NOW - timedelta(days=2), state="sent", sent_at=NOW - timedelta(days=2)),
        mail(number, NOW, kind="ack"),  # not a timer
    )
    timers = json_lines(queue_cli, "timers", "list")
    assert all(list(t) == TIMER_KEYS for t in timers)
    assert [(t["id"], t["kind"], t["state"], t["held"]) for t in timers] == [
        (f"outbox:{sent}", "license_mail", "done", False),
        (expiry, "held_expiry", "done", False),
        (cancelled, "page", "cancelled", False),
        (f"outbox:{held}", "license_mail", "pending", True),
        (f"outbox:{due}", "license_mail", "pending", False),
        (close, "auto_close", "pending", False),
    ]
    assert all(ISO_TOKYO.fullmatch(t["due_at"]) for t in timers)
    by_id = {t["id"]: t for t in timers}
    assert by_id[f"outbox:{due}"] == {
        "id": f"outbox:{due}",
        "kind": "license_mail",
        "incident": number,
        "inquiry": None,
        "due_at": "2026-12-09T09:00:00+09:00",
        "state": "pending",
        "held": False,
        "done_at": None,
    }
    assert by_id[f"outbox:{sent}"]["done_at"] == "2026-12-06T10:00:00+09:00"
    assert (by_id[expiry]["incident"], by_id[expiry]["inquiry"]) == (None, inquiry)
    assert by_id[expiry]["done_at"] == "2026-12-07T10:00:03+09:00"
    assert f"outbox:{ack}" not in by_id
    text = queue_cli("timers", "list")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines() == [
        f"2026-12-06T10:00:00+09:00 license_mail #{number} done outbox:{sent}",
        f"2026-12-07T10:00:00+09:00 held_expiry inquiry {inquiry} done",
        "2026-12-08T11:00:00+09:00 page - cancelled",
        f"2026-12-08T17:00:00+09:00 license_mail #{number} pending (held) outbox:{held}",
        f"2026-12-09T09:00:00+09:00 license_mail #{number} pending outbox:{due}",
        f"2026-12-15T10:00:00+09:00 auto_close #{number} pending",
    ]


def test_r16_timers_list_filters_by_state_and_kind(queue_cli: Cli, database: Engine) -> None:
    number = incident(database)
    [close] = add(database, TimedAction(kind="auto_close", due_at=NOW, incident_id=number))
    held, failed = add(
        database,
        mail(number, NOW + timedelta(hours=1), state="held"),
        mail(number, NOW - timedelta(hours=1), state="failed", attempts=12, last_error="x"),
    )
    pending = json_lines(queue_cli, "timers", "list", "--state", "pending")
    assert [t["id"] for t in pending] == [close, f"outbox:{held}"]  # a held key mail is to come
    failures = json_lines(queue_cli, "timers", "list", "--state", "failed")
    assert [(t["id"], t["state"]) for t in failures] == [(f"outbox:{failed}", "failed")]
    mails = json_lines(queue_cli, "timers", "list", "--kind", "license_mail")
    assert [t["id"] for t in mails] == [f"outbox:{failed}", f"outbox:{held}"]
    assert [t["id"] for t in json_lines(queue_cli, "timers", "list", "--kind", "auto_close")] == [
        close
    ]
    assert json_lines(queue_cli, "timers", "list", "--state", "cancelled") == []
    wrong = queue_cli("timers", "list", "--state", "held")
    assert (wrong.returncode, wrong.stdout, wrong.stderr.count("\n")) == (2, "", 1)
    assert "invalid choice: 'held'" in wrong.stderr


def test_outbox_list_decodes_subjects_and_filters(queue_cli: Cli, database: Engine) -> None:
    number = incident(database)
    key, ack, junk = add(
        database,
        mail(number, NOW + timedelta(hours=1)),
        mail(
            number,
            NOW - timedelta(hours=1),
            kind="ack",
            state="sent",
            subject="受付のお知らせ",
            charset="utf-8",
            sent_at=NOW,
            late=True,
            attempts=1,
        ),
        mail(None, NOW, kind="staff_notify", data=b"\xff\xfe\x00 not a mail \x1b$B"),
    )
    rows = json_lines(queue_cli, "outbox", "list")
    assert all(list(r) == OUTBOX_KEYS for r in rows)
    assert [r["id"] for r in rows] == [key, ack, junk]  # by id, not by due time
    assert rows[0] == {
        "id": key,
        "kind": "license_key",
        "profile": "desknet",
        "to": ["yamada@example.jp"],
        "subject": f"[#{number}] 【サポート】ライセンスキーのお知らせ",  # ISO-2022-JP words decoded
        "incident": number,
        "due_at": "2026-12-08T11:00:00+09:00",
        "state": "pending",
        "sent_at": None,
        "late": False,
        "attempts": 0,
        "last_error": None,
    }
    assert (rows[1]["subject"], rows[1]["sent_at"], rows[1]["late"]) == (
        f"[#{number}] 受付のお知らせ",
        "2026-12-08T10:00:00+09:00",
        True,
    )
    assert (rows[2]["subject"], rows[2]["incident"]) == ("", None)  # garbage tolerated
    assert [r["id"] for r in json_lines(queue_cli, "outbox", "list", "--state", "sent")] == [ack]
    assert [r["id"] for r in json_lines(queue_cli, "outbox", "list", "--kind", "ack")] == [ack]
    by_incident = json_lines(queue_cli, "outbox", "list", "--incident", str(number))
    assert [r["id"] for r in by_incident] == [key, ack]
    text = queue_cli("outbox", "list", "--kind", "license_key")
    assert text.stdout.splitlines() == [
        f"{key} pending license_key  2026-12-08T11:00:00+09:00 #{number} yamada@example.jp"
        f" [#{number}] 【サポート】ライセンスキーのお知らせ"
    ]


def test_r16_hold_keeps_a_key_mail_from_the_dispatcher_until_release(
    queue_cli: Cli, database: Engine, tmp_path: Path
) -> None:
    number = incident(database)
    [key] = add(database, mail(number, NOW))
    held = queue_cli("outbox", "hold", str(key))
    assert (held.returncode, held.stdout, held.stderr) == (0, f"outbox {key} held\n", "")
    assert outbox_state(database, key) == "held"
    [timer] = json_lines(queue_cli, "timers", "list")
    assert (timer["state"], timer["held"]) == ("pending", True)
    maildir = tmp_path / "maildir"
    dispatcher = Dispatcher(
        db.session_factory(database), MaildirTransport(maildir), lambda _: "support@example.jp"
    )
    assert dispatcher.run_once(NOW + timedelta(hours=1)) == 0  # due, but held
    assert list((maildir / "new").iterdir()) == []
    released = queue_cli("outbox", "release", str(key))
    assert (released.returncode, released.stderr) == (0, "")
    assert released.stdout == f"outbox {key} released (due 2026-12-08T10:00:00+09:00)\n"
    assert outbox_state(database, key) == "pending"
    assert dispatcher.run_once(NOW + timedelta(hours=1)) == 1
    assert outbox_state(database, key) == "sent"
    assert len(list((maildir / "new").iterdir())) == 1
    assert audit(database) == [  # R26: staff actions are audited
        ("cli", "outbox_hold", f"outbox:{key}", {}),
        ("cli", "outbox_release", f"outbox:{key}", {}),
    ]


@pytest.mark.parametrize(
    ("action", "state", "error"),
    [
        ("hold", "held", "outbox {id} is already held"),
        ("hold", "sent", "outbox {id} is sent; only a pending mail can be held"),
        ("hold", "failed", "outbox {id} is failed; only a pending mail can be held"),
        ("release", "pending", "outbox {id} is pending; only a held mail can be released"),
        ("release", "sent", "outbox {id} is sent; only a held mail can be released"),
    ],
)
def test_r30_hold_and_release_refuse_a_mail_in_another_state(
    queue_cli: Cli, database: Engine, action: str, state: str, error: str
) -> None:
    [row] = add(database, mail(None, NOW, state=state))
    result = queue_cli("outbox", action, str(row))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"uketsuke: {error.format(id=row)}\n"
    assert outbox_state(database, row) == state
    assert audit(database) == []


@pytest.mark.parametrize("action", ["hold", "release"])
def test_r30_an_unknown_outbox_id_is_refused(queue_cli: Cli, action: str) -> None:
    result = queue_cli("outbox", action, "404")
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        "uketsuke: no outbox mail 404\n",
    )


@pytest.mark.parametrize(
    "args",
    [["timers", "list"], ["outbox", "list", "--json"], ["outbox", "hold", "1"]],
    ids=" ".join,
)
def test_r30_queue_commands_never_create_a_database(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "var" / "uketsuke.db"
    home = tmp_path / "home"
    home.mkdir()
    result = Cli(home, f"sqlite:///{path}")(*args)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(f"uketsuke: no database at {path} ")
    assert result.stderr.count("\n") == 1
    assert not path.parent.exists()
