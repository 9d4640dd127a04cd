"""Two instances on one PostgreSQL database (docs/operations.md, "Two instances on one
PostgreSQL"): each ``uketsuke run`` with its own home and SMTP and web ports, both polling one
IMAP mailbox and serving one form. Under mixed SMTP + IMAP + web-form load either is killed
with ``kill -9`` again and again (UKETSUKE_SOAK_ROUNDS, default 20): every message and accepted
submission is exactly one incident with one acknowledgment, sent once; every auto-close and
held-expiry timer due during the soak fires exactly once; and once the lease holder stays down,
the IMAP lease passes to the survivor within 3 minutes. Runs only in ``make soak``."""

from __future__ import annotations

import json
import smtplib
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from intake import db
from intake.models import (
    AuditEntry,
    Incident,
    Inquiry,
    MailboxState,
    OutboxMail,
    TimedAction,
    utcnow,
)
from tests import soak
from tests.daemon import Daemon
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.peers.dovecot import DovecotServer
from tests.soak import soak_database_url  # noqa: F401 - the fixture database_url
from tests.test_daemon import orphaned_workers

pytestmark = soak.SOAK_MARKS

STAFF = "sato@example.jp"
DN_DESK = "neo-support@example.jp"
TIMERS = 8  # incidents answered (auto-close) and mails held (held expiry) before the soak
KEYS = 4  # license key requests: key mails due during the soak
TIMED = ("auto_close", "held_expiry")
ISSUER = Path(__file__).with_name("license_issuer.py")
LEASE_LIMIT = 180.0  # the issue's bound for the IMAP lease to reach the survivor


def owner(daemon: Daemon) -> str:
    """The lease owner an instance writes (intake.daemon: host and home)."""
    return f"{socket.gethostname()}:{daemon.home.resolve()}"


def lease_owner(database_url: str) -> str | None:
    engine = db.make_engine(database_url)
    try:
        with db.session_factory(engine)() as session:
            state = session.get(MailboxState, "inbox")
            return state.lease_owner if state else None
    finally:
        engine.dispose()


def scalar(database_url: str, query):  # noqa: ANN001, ANN201 - a test's one-off read
    engine = db.make_engine(database_url)
    try:
        with db.session_factory(engine)() as session:
            return session.scalar(query)
    finally:
        engine.dispose()


def wait_for(what: str, condition) -> None:  # noqa: ANN001
    deadline = time.monotonic() + soak.DRAIN_LIMIT
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.5)


@dataclass
class Timers:
    """The customers whose timers come due during the soak, by kind of timer."""

    closing: set[str] = field(default_factory=set)  # answered by staff: auto-close
    held: set[str] = field(default_factory=set)  # mail without fields: held expiry
    keys: set[str] = field(default_factory=set)  # license key requests: the key mail


def key_request(n: int) -> bytes:
    """Customer ``n`` of the registry asks the DN desk for its license key again (R14)."""
    fields = FIELDS_BLOCK.replace("C0123-4567", f"C0124-{n:04d}")
    return make_mail(
        fields + "\nサーバー移行に伴い、ライセンスキーの再発行をお願いいたします。\n",
        subject="ライセンスキー再発行のお願い",
        sender=f"key{n}@example.co.jp",
        to=DN_DESK,
        message_id=f"<key{n}@soak>",
    )


def load_registry(a: Daemon) -> None:
    """The customer of the load (helpdesk) and KEYS customers of the DN desk with support."""
    rows = [
        "customer_number,company,domains,contact_emails,profile,product,order_accepted",
        "C0123-4567,株式会社サンプル商事,example.co.jp,yamada@example.co.jp,helpdesk,,2026-06-10",
        *(
            f"C0124-{n:04d},株式会社サンプル商事,example.co.jp,key{n}@example.co.jp,desknet,NEO,"
            "2026-06-10"
            for n in range(KEYS)
        ),
    ]
    registry = a.home / "registry.csv"
    registry.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = a.cli("customers", "import", str(registry))
    assert result.returncode == 0, result.stderr


def set_up_timers(a: Daemon, database_url: str, span: float) -> Timers:
    """TIMERS incidents a staff member answered (auto-close timers), TIMERS held mails
    (held-expiry timers) and KEYS license key requests (key mails), their due times moved to
    moments spread over the next ``span`` seconds: they come due while the instances are being
    killed."""
    timers = Timers(
        closing={f"close{n}@example.co.jp" for n in range(TIMERS)},
        held={f"held{n}@example.co.jp" for n in range(TIMERS)},
        keys={f"key{n}@example.co.jp" for n in range(KEYS)},
    )
    load_registry(a)
    with smtplib.SMTP("127.0.0.1", a.smtp_port, timeout=30) as client:
        for address in sorted(timers.closing | timers.held):
            data = soak.customer_mail(address, "質問です。", fields=address in timers.closing)
            client.sendmail(address, ["support@example.jp"], data)
        for n in range(KEYS):
            client.sendmail(f"key{n}@example.co.jp", [DN_DESK], key_request(n))
    wait_for(
        "the timer mails processed",
        lambda: (
            scalar(database_url, select(func.count()).select_from(Incident)) == TIMERS + KEYS
            and scalar(database_url, select(func.count()).where(Inquiry.state == "held")) == TIMERS
            and scalar(database_url, select(func.count()).where(OutboxMail.kind == "license_key"))
            == KEYS
        ),
    )
    answer = a.home / "answer.txt"
    answer.write_text("ご連絡ありがとうございます。設定を見直しました。\n", encoding="utf-8")
    engine = db.make_engine(database_url)
    try:
        with db.session_factory(engine)() as session:
            numbers = list(
                session.scalars(
                    select(Incident.id).where(Incident.reply_address.in_(timers.closing))
                )
            )
        for number in numbers:
            result = a.cli(
                "incidents", "reply", str(number), "--from", STAFF, "--file", str(answer)
            )
            assert result.returncode == 0, result.stderr
        wait_for(  # the answers sent: their auto-close clocks run (R18)
            "the answers sent",
            lambda: scalar(
                database_url,
                select(func.count())
                .select_from(TimedAction)
                .where(TimedAction.kind.in_(TIMED), TimedAction.state == "pending"),
            )
            == 2 * TIMERS,
        )
        now = utcnow()
        with db.session_factory(engine).begin() as session:
            actions = list(
                session.scalars(
                    select(TimedAction).where(
                        TimedAction.kind.in_(TIMED), TimedAction.state == "pending"
                    )
                )
            )
            assert len(actions) == 2 * TIMERS, [a.kind for a in actions]
            keys = list(session.scalars(select(OutboxMail).where(OutboxMail.kind == "license_key")))
            due = [*actions, *keys]
            for n, row in enumerate(due):
                row.due_at = now + timedelta(seconds=5 + span * n / len(due))
    finally:
        engine.dispose()
    return timers


def check_timers_fired_once(database_url: str, timers: Timers, issued: Path) -> int:
    """Each timer fired once; returns how many times the key issuer was called. A key is
    issued again only when an instance died between delivering its mail and recording it sent
    (R16: the mail then goes out again with the same Message-ID, replacing its own file)."""
    engine = db.make_engine(database_url)
    try:
        with db.session_factory(engine)() as session:
            mails = list(session.execute(select(OutboxMail.kind, OutboxMail.recipients)))
            states = Counter(
                session.scalars(select(TimedAction.state).where(TimedAction.kind.in_(TIMED)))
            )
            closes = Counter(
                session.scalars(select(AuditEntry.target).where(AuditEntry.action == "auto_close"))
            )
            incidents = Counter(session.scalars(select(Incident.state)))
            inquiries = Counter(session.scalars(select(Inquiry.state)))
    finally:
        engine.dispose()
    assert states == {"done": 2 * TIMERS}, states
    closed = Counter(r[0] for kind, r in mails if kind == "closed")
    assert closed == dict.fromkeys(timers.closing, 1), closed  # one notice each: fired once
    expired = Counter(r[0] for kind, r in mails if kind == "held_expired")
    assert expired == dict.fromkeys(timers.held, 1), expired
    assert len(closes) == TIMERS and set(closes.values()) == {1}, closes
    assert incidents["closed"] == TIMERS and inquiries["expired"] == TIMERS
    keys = Counter(r[0] for kind, r in mails if kind == "license_key")
    assert keys == dict.fromkeys(timers.keys, 1), keys  # sent: state checked with the outbox
    asked = Counter(json.loads(line)["customer_number"] for line in issued.read_text().splitlines())
    assert set(asked) == {f"C0124-{n:04d}" for n in range(KEYS)}, asked
    return sum(asked.values())


def hand_over_the_lease(database_url: str, daemons: list[Daemon]) -> float:
    """Kill the instance holding the IMAP lease and keep it down: seconds until the survivor
    holds the lease. The killed one is started again afterwards."""
    owners = {owner(d) for d in daemons}
    wait_for("an instance holds the lease", lambda: lease_owner(database_url) in owners)
    [victim] = [d for d in daemons if owner(d) == lease_owner(database_url)]
    [survivor] = [d for d in daemons if d is not victim]
    victim.kill()
    killed = time.monotonic()
    while lease_owner(database_url) != owner(survivor):
        assert time.monotonic() - killed < 2 * LEASE_LIMIT, "the lease never passed"
        time.sleep(0.5)
    seconds = time.monotonic() - killed
    victim.start()
    return seconds


def test_r29_r16_soak_two_instances_one_database_kill_9_either_exactly_once(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    fresh_dovecot: DovecotServer,
    database_url: str,
) -> None:
    total = soak.rounds(20)
    seed, rng = soak.soak_seed()
    config = soak.soak_config(tmp_path / "uketsuke.toml", fresh_dovecot, seed)  # one for both
    issued = tmp_path / "issued.log"  # one line per key the issuer made
    issuer = [sys.executable, str(ISSUER), str(issued)]
    with config.open("a", encoding="utf-8") as handle:
        handle.write(f"[profiles.desknet]\nlicense_issuer = {json.dumps(issuer)}\n")
    started = time.monotonic()
    daemons = []
    spool = tmp_path / "spool"  # one spool folder for both (docs/operations.md)
    spool.mkdir()
    for name in ("a", "b"):
        home = tmp_path / name
        home.mkdir()
        (home / "spool").symlink_to(spool)
        daemons.append(Daemon(home, database_url, config=config))
    a, b = daemons
    try:
        assert a.cli("init-db").returncode == 0
        assert a.cli("staff", "add", "佐藤 花子", STAFF).returncode == 0
        for daemon in daemons:
            daemon.start()
        timers = set_up_timers(a, database_url, span=total * 1.5)

        def ports() -> list[int]:
            return rng.sample([a.smtp_port, b.smtp_port], 2)

        def web_ports() -> list[int]:
            return [a.web_port, b.web_port]

        load = soak.Mixed(fresh_dovecot, ports, web_ports)
        handover = None
        for n in range(total):
            if n == total // 2:
                handover = hand_over_the_lease(database_url, daemons)
                continue
            victim = rng.choice(daemons)
            time.sleep(rng.uniform(0.2, 2.0))
            victim.kill()
            time.sleep(rng.uniform(0.0, 1.0))  # the other one alone for a moment
            victim.start()
        expected = soak.Expected(certain=timers.closing | timers.keys, held=timers.held)
        expected = load.finish(expected)
        wait_for(
            "every timer fired",
            lambda: (
                scalar(
                    database_url,
                    select(func.count()).where(
                        TimedAction.kind.in_(TIMED), TimedAction.state == "pending"
                    ),
                )
                == 0
            ),
        )
        drain = soak.wait_drained(database_url, expected, lambda: a.tail() + "\n" + b.tail())
        for daemon in daemons:
            assert daemon.terminate() == 0
        counts = soak.check_exactly_once(
            database_url, [d.home / "mail-out" for d in daemons], expected
        )
        calls = check_timers_fired_once(database_url, timers, issued)
    finally:
        for daemon in daemons:
            daemon.close()
    with capsys.disabled():
        print(
            f"\ntwo-instance soak: {total} kill -9 rounds in {time.monotonic() - started:.0f} s "
            f"(drain {drain:.0f} s, UKETSUKE_SOAK_SEED={seed}); IMAP lease to the survivor "
            f"in {handover:.0f} s; {2 * TIMERS} timers and {KEYS} key mails fired once each "
            f"({calls} issuer calls); "
            f"{load.summary(counts)}"
        )
    assert handover is not None and handover < LEASE_LIMIT
    time.sleep(2)  # the killed daemons' parse workers notice within a second and exit
    assert orphaned_workers(a.home) == orphaned_workers(b.home) == []
