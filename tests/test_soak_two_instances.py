"""Two instances on one PostgreSQL database (docs/operations.md, "Two instances on one
PostgreSQL"): each ``uketsuke run`` with its own home and SMTP and web ports, both polling one
IMAP mailbox and serving one form. Under mixed SMTP + IMAP + web-form load either is killed
with ``kill -9`` again and again (UKETSUKE_SOAK_ROUNDS, default 20): every message and accepted
submission is exactly one incident with one acknowledgment, sent once; every auto-close and
held-expiry timer due during the soak fires exactly once; and once the lease holder stays down,
the IMAP lease passes to the survivor within 3 minutes. Runs only in ``make soak``."""

from __future__ import annotations

import smtplib
import socket
import time
from collections import Counter
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
from tests.peers.dovecot import DovecotServer

pytestmark = soak.SOAK_MARKS

STAFF = "sato@example.jp"
TIMERS = 8  # incidents answered (auto-close) and mails held (held expiry) before the soak
LEASE_LIMIT = 180.0  # the bound for the IMAP lease to reach the survivor


def owner(daemon: Daemon) -> str:
    """The lease owner an instance writes (intake.daemon: host and home)."""
    return f"{socket.gethostname()}:{daemon.home.resolve()}"


def lease_owner(url: str) -> str | None:
    engine = db.make_engine(url)
    try:
        with db.session_factory(engine)() as session:
            state = session.get(MailboxState, "inbox")
            return state.lease_owner if state else None
    finally:
        engine.dispose()


def scalar(url: str, query):  # noqa: ANN001, ANN201 - a test's one-off read
    engine = db.make_engine(url)
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


def set_up_timers(a: Daemon, url: str, span: float) -> tuple[set[str], set[str]]:
    """TIMERS incidents a staff member answered (auto-close timers) and TIMERS held mails
    (held-expiry timers), their due times moved to moments spread over the next ``span``
    seconds: they come due while the instances are being killed. Returns both addresses."""
    closing = {f"close{n}@example.co.jp" for n in range(TIMERS)}
    held = {f"held{n}@example.co.jp" for n in range(TIMERS)}
    with smtplib.SMTP("127.0.0.1", a.smtp_port, timeout=30) as client:
        for address in sorted(closing | held):
            data = soak.customer_mail(address, "質問です。", fields=address in closing)
            client.sendmail(address, ["support@example.jp"], data)
    wait_for(
        "the timer mails processed",
        lambda: (
            scalar(url, select(func.count()).select_from(Incident)) == TIMERS
            and scalar(url, select(func.count()).where(Inquiry.state == "held")) == TIMERS
        ),
    )
    answer = a.home / "answer.txt"
    answer.write_text("ご連絡ありがとうございます。設定を見直しました。\n", encoding="utf-8")
    engine = db.make_engine(url)
    try:
        with db.session_factory(engine)() as session:
            numbers = list(session.scalars(select(Incident.id)))
        for number in numbers:
            result = a.cli(
                "incidents", "reply", str(number), "--from", STAFF, "--file", str(answer)
            )
            assert result.returncode == 0, result.stderr
        now = utcnow()
        with db.session_factory(engine).begin() as session:
            actions = list(
                session.scalars(
                    select(TimedAction).where(
                        TimedAction.kind.in_(("auto_close", "held_expiry")),
                        TimedAction.state == "pending",
                    )
                )
            )
            assert len(actions) == 2 * TIMERS, [a.kind for a in actions]
            for n, action in enumerate(actions):
                action.due_at = now + timedelta(seconds=5 + span * n / len(actions))
    finally:
        engine.dispose()
    return closing, held


def check_timers_fired_once(url: str, closing: set[str], held: set[str]) -> None:
    engine = db.make_engine(url)
    try:
        with db.session_factory(engine)() as session:
            mails = list(session.execute(select(OutboxMail.kind, OutboxMail.recipients)))
            states = Counter(
                session.scalars(
                    select(TimedAction.state).where(
                        TimedAction.kind.in_(("auto_close", "held_expiry"))
                    )
                )
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
    assert closed == dict.fromkeys(closing, 1), closed  # one notice each: fired once
    expired = Counter(r[0] for kind, r in mails if kind == "held_expired")
    assert expired == dict.fromkeys(held, 1), expired
    assert len(closes) == TIMERS and set(closes.values()) == {1}, closes
    assert incidents["closed"] == TIMERS and inquiries["expired"] == TIMERS


def hand_over_the_lease(url: str, daemons: list[Daemon]) -> float:
    """Kill the instance holding the IMAP lease and keep it down: seconds until the survivor
    holds the lease. The killed one is started again afterwards."""
    holder = lease_owner(url)
    [victim] = [d for d in daemons if owner(d) == holder]
    [survivor] = [d for d in daemons if d is not victim]
    victim.kill()
    killed = time.monotonic()
    while lease_owner(url) != owner(survivor):
        assert time.monotonic() - killed < 2 * LEASE_LIMIT, "the lease never passed"
        time.sleep(0.5)
    seconds = time.monotonic() - killed
    victim.start()
    return seconds


def test_r29_r16_soak_two_instances_one_database_kill_9_either_exactly_once(
    tmp_path: Path, fresh_dovecot: DovecotServer, capsys: pytest.CaptureFixture[str]
) -> None:
    total = soak.rounds(20)
    seed, rng = soak.soak_seed()
    config = soak.soak_config(tmp_path / "uketsuke.toml", fresh_dovecot, seed)  # one for both
    started = time.monotonic()
    with soak.soak_database() as url:
        daemons = []
        spool = tmp_path / "spool"  # one spool folder for both (docs/operations.md)
        spool.mkdir()
        for name in ("a", "b"):
            home = tmp_path / name
            home.mkdir()
            (home / "spool").symlink_to(spool)
            daemons.append(Daemon(home, url, config=config))
        a, b = daemons
        try:
            assert a.cli("init-db").returncode == 0
            assert a.cli("staff", "add", "佐藤 花子", STAFF).returncode == 0
            for daemon in daemons:
                daemon.start()
            closing, held = set_up_timers(a, url, span=total * 1.5)

            def ports() -> list[int]:
                return rng.sample([a.smtp_port, b.smtp_port], 2)

            def web_ports() -> list[int]:
                return [a.web_port, b.web_port]

            load = soak.Mixed(fresh_dovecot, ports, web_ports)
            handover = None
            for n in range(total):
                if n == total // 2:
                    handover = hand_over_the_lease(url, daemons)
                    continue
                victim = rng.choice(daemons)
                time.sleep(rng.uniform(0.2, 2.0))
                victim.kill()
                time.sleep(rng.uniform(0.0, 1.0))  # the other one alone for a moment
                victim.start()
            expected = load.finish(soak.Expected(certain=set(closing), held=set(held)))
            wait_for(
                "every timer fired",
                lambda: (
                    scalar(
                        url,
                        select(func.count()).where(
                            TimedAction.kind.in_(("auto_close", "held_expiry")),
                            TimedAction.state == "pending",
                        ),
                    )
                    == 0
                ),
            )
            drain = soak.wait_drained(url, expected, lambda: a.tail() + "\n" + b.tail())
            for daemon in daemons:
                assert daemon.terminate() == 0
            counts = soak.check_exactly_once(url, [d.home / "mail-out" for d in daemons], expected)
            check_timers_fired_once(url, closing, held)
        finally:
            for daemon in daemons:
                daemon.close()
    with capsys.disabled():
        print(
            f"\ntwo-instance soak: {total} kill -9 rounds in {time.monotonic() - started:.0f} s "
            f"(drain {drain:.0f} s, UKETSUKE_SOAK_SEED={seed}); IMAP lease to the survivor "
            f"in {handover:.0f} s; {2 * TIMERS} timers fired once each; {load.summary(counts)}"
        )
    assert handover is not None and handover < LEASE_LIMIT
