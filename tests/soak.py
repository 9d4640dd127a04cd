"""What the soaks (``make soak``) share: a PostgreSQL database of their own, mixed load (SMTP,
IMAP, the web form) that keeps going while daemons are killed, and the exactly-once check.

Every source of load writes as a customer address of its own (``smtp17@…``, ``imap3@…``,
``web5@…``), so each incident, acknowledgment and delivered file can be traced to the one
message, mailbox entry or form submission it came from.
"""

from __future__ import annotations

import contextlib
import email
import http.cookiejar
import os
import random
import re
import smtplib
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, make_url, select
from sqlalchemy.exc import OperationalError

from intake import db
from intake.models import Incident, OutboxMail, RawMessage
from intake.spool import SPOOL_THRESHOLD
from tests.conftest import missing_peer
from tests.daemon import write_imap_config
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.peers.dovecot import DovecotServer

SOAK = os.environ.get("UKETSUKE_SOAK") == "1"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DOMAIN = "example.co.jp"  # the domain FIELDS_BLOCK and the form give: the sender's own
# A hang detector for the drain at the end, not a speed limit.
DRAIN_LIMIT = 900.0
# Web settings both instances share: one key (a form fetched from one instance is posted to
# the other, as behind a load balancer) and limits far above the soak's submissions.
WEB_TOML = """
[web]
secret_key = "soak-{key}"
submissions_per_ip_per_hour = 1000000
submissions_per_address_per_hour = 1000000

# Staff answers go out at once (the hold is tested elsewhere): an answered incident's auto-close
# timer starts as soon as its answer is sent (R18).
[profiles.helpdesk]
answer_hold_seconds = 0
"""


# The soaks: long (``slow``), on PostgreSQL (``db``), and only in ``make soak``.
SOAK_MARKS = [
    pytest.mark.slow,
    pytest.mark.db,
    pytest.mark.skipif(not SOAK, reason="a soak: make soak (UKETSUKE_SOAK=1)"),
]


def rounds(default: int) -> int:
    return int(os.environ.get("UKETSUKE_SOAK_ROUNDS", str(default)))


def soak_seed() -> tuple[int, random.Random]:
    """The soak's seed and its random choices; UKETSUKE_SOAK_SEED (printed in the summary)
    repeats them."""
    seed = int(os.environ.get("UKETSUKE_SOAK_SEED", str(time.time_ns() % 2**32)))
    return seed, random.Random(seed)


def soak_config(path: Path, server: DovecotServer, seed: int) -> Path:
    """The configuration every instance of a soak reads: the shared mailbox, the web."""
    write_imap_config(path, server)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(WEB_TOML.format(key=seed))
    return path


@contextlib.contextmanager
def soak_database() -> Iterator[str]:
    """A database of its own (``soak_<pid>_<hex>``) on the PostgreSQL of the tests
    (UKETSUKE_TEST_DATABASE_URL, else 127.0.0.1:5432 as ``postgres``), dropped afterwards."""
    base = make_url(os.environ.get("UKETSUKE_TEST_DATABASE_URL") or POSTGRES)
    name = f"soak_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as error:
        admin.dispose()
        missing_peer(f"PostgreSQL at {base.host}:{base.port}: {error.orig}")
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(name="database_url")
def soak_database_url() -> Iterator[str]:
    """For a soak, whatever database the suite uses: one of its own on PostgreSQL."""
    with soak_database() as url:
        yield url


def customer_mail(address: str, text: str, *, fields: bool = True, size: int = 0) -> bytes:
    """A customer's mail from ``address``, of more than ``size`` bytes when it is given (a log
    pasted in); without the fields block it is held (R2)."""
    body = (FIELDS_BLOCK if fields else "") + f"\n{text}\n" + "ログ行です。\n" * (size // 18)
    return make_mail(body, sender=address, message_id=f"<{address.replace('@', '.')}@soak>")


class Load(threading.Thread):
    """One kind of load: a new item every ``pace`` seconds until :meth:`finish`."""

    prefix = ""

    def __init__(self, pace: float) -> None:
        super().__init__(daemon=True)
        self.pace = pace
        self.stop = threading.Event()
        self.accepted: set[str] = set()  # addresses whose item was taken for certain
        self.uncertain: set[str] = set()  # the answer was lost: taken at most once
        self.errors: list[str] = []  # answers that should never come
        self.count = 0

    def address(self) -> str:
        self.count += 1
        return f"{self.prefix}{self.count}-{uuid.uuid4().hex[:6]}@{DOMAIN}"

    def run(self) -> None:
        while not self.stop.is_set():
            self.one(self.address())
            self.stop.wait(self.pace)

    def one(self, address: str) -> None:
        raise NotImplementedError

    def finish(self, seconds: float = 120) -> None:
        self.stop.set()
        self.join(seconds)
        assert not self.is_alive(), f"{type(self).__name__} still busy"


class SmtpLoad(Load):
    """An MTA: each message is retried (same Message-ID) until one of ``ports`` says 250.
    One message in LARGE_EVERY (UKETSUKE_SOAK_LARGE_EVERY, default 25; 0: none) is over the
    spool threshold (a file in the spool)."""

    prefix = "smtp"
    LARGE_EVERY = int(os.environ.get("UKETSUKE_SOAK_LARGE_EVERY", "25"))

    def __init__(self, pace: float, ports: Callable[[], list[int]]) -> None:
        super().__init__(pace)
        self.ports = ports
        self.retries = 0
        self.large = 0

    def one(self, address: str) -> None:
        large = self.LARGE_EVERY > 0 and (self.count - 1) % self.LARGE_EVERY == 0  # 1st, 26th…
        self.large += large
        size = SPOOL_THRESHOLD if large else 0
        data = customer_mail(address, f"ログインできません（{address}）。", size=size)
        deadline = time.monotonic() + DRAIN_LIMIT
        while time.monotonic() < deadline:
            for port in self.ports():
                try:
                    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                        client.sendmail(address, ["support@example.jp"], data)
                    self.accepted.add(address)
                    return
                except (OSError, smtplib.SMTPException):
                    self.retries += 1
            time.sleep(0.05)
        self.errors.append(f"{address}: never accepted")


class ImapLoad(Load):
    """Mail put into the shared mailbox, as the MTA in front of it would."""

    prefix = "imap"

    def __init__(self, pace: float, server: DovecotServer) -> None:
        super().__init__(pace)
        self.server = server

    def one(self, address: str) -> None:
        raw = customer_mail(address, f"画面が表示されません（{address}）。")
        self.server.deliver(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        self.accepted.add(address)


class WebLoad(Load):
    """Customers filling in the form. Each request goes, as through a load balancer, to one of
    ``ports`` at random, or to the next when that one refuses the connection: the form is often
    fetched from one instance and sent to the other."""

    prefix = "web"
    TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')

    def __init__(self, pace: float, ports: Callable[[], list[int]]) -> None:
        super().__init__(pace)
        self.ports = ports
        self.refused = 0  # no instance took the connection: nothing was sent

    def request(self, opener: urllib.request.OpenerDirector, data: bytes | None = None) -> str:
        ports = self.ports()
        for port in random.sample(ports, len(ports)):
            url = f"http://127.0.0.1:{port}/helpdesk/inquiry"
            try:
                with opener.open(url, data=data, timeout=30) as answer:
                    return answer.read().decode()
            except urllib.error.HTTPError:
                raise
            except urllib.error.URLError as error:
                if not isinstance(error.reason, ConnectionRefusedError):
                    raise
        raise ConnectionRefusedError("no instance took the connection")

    def one(self, address: str) -> None:
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        try:
            token = self.TOKEN.search(self.request(opener))
        except OSError:
            self.refused += 1
            return
        assert token is not None
        form = {
            "csrf_token": token.group(1),
            "company": "株式会社サンプル商事",
            "name": "山田 太郎",
            "domain": DOMAIN,
            "customer_number": "C0123-4567",
            "email": address,
            "category": "fault",
            "subject": "印刷できない",
            "items-0": f"印刷ボタンを押しても何も起きません（{address}）。",
            "action": "send",
        }
        try:
            text = self.request(opener, urllib.parse.urlencode(form).encode())
        except urllib.error.HTTPError as error:
            self.errors.append(f"{address}: HTTP {error.code}")
            return
        except ConnectionRefusedError:
            self.refused += 1
            return
        except OSError:
            self.uncertain.add(address)  # sent, but the answer was lost: taken at most once
            return
        if "incident-number" in text:
            self.accepted.add(address)
        else:
            self.errors.append(f"{address}: no incident number on the answer page")


@dataclass
class Expected:
    """What the load brought: addresses that must each be one incident with one ack."""

    certain: set[str] = field(default_factory=set)
    uncertain: set[str] = field(default_factory=set)  # at most one incident each
    held: set[str] = field(default_factory=set)  # mail without fields: held, never incidents

    def add(self, load: Load) -> None:
        assert load.errors == [], load.errors[:5]
        self.certain |= load.accepted
        self.uncertain |= load.uncertain


class Mixed:
    """SMTP, IMAP and web-form load at once, for as long as the daemons are being killed."""

    def __init__(
        self,
        server: DovecotServer,
        smtp_ports: Callable[[], list[int]],
        web_ports: Callable[[], list[int]],
    ) -> None:
        self.smtp = SmtpLoad(0.05, smtp_ports)
        self.imap = ImapLoad(0.3, server)
        self.web = WebLoad(0.3, web_ports)
        self.loads: list[Load] = [self.smtp, self.imap, self.web]
        for load in self.loads:
            load.start()

    def finish(self, expected: Expected) -> Expected:
        for load in self.loads:
            load.finish()
            expected.add(load)
        return expected

    def summary(self, counts: dict[str, int]) -> str:
        smtp, web = self.smtp, self.web
        return (
            f"smtp {len(smtp.accepted)} ({smtp.large} over 1 MB; retried {smtp.retries}), "
            f"imap {len(self.imap.accepted)}, "
            f"web {len(web.accepted)} (+{len(web.uncertain)} unanswered, {web.refused} refused); "
            f"incidents {counts['incidents']}, acks {counts['acks']}, "
            f"delivered {counts['delivered']}; 0 lost, 0 doubled"
        )


def _address(recipients: list[str]) -> str:
    assert len(recipients) == 1, recipients
    return recipients[0]


def delivered(maildirs: list[Path]) -> Counter[str]:
    """Message-ID -> how many files carry it, over every instance's outgoing Maildir."""
    found: Counter[str] = Counter()
    parser = email.parser.BytesHeaderParser(policy=policy.compat32)
    for maildir in maildirs:
        new = maildir / "new"
        for path in new.iterdir() if new.is_dir() else []:
            with path.open("rb") as handle:
                found[str(parser.parse(handle)["Message-ID"]).strip()] += 1
    return found


def drained(database_url: str, expected: Expected) -> bool:
    """Every expected incident made and every outbox row and stored message finished; a
    message set aside as unprocessable fails the soak at once (it will never be an incident)."""
    engine = db.make_engine(database_url)
    try:
        with db.session_factory(engine)() as session:
            incidents = set(session.scalars(select(Incident.reply_address)))
            busy_raw = session.scalar(
                select(func.count()).where(RawMessage.state.in_(("received", "processing")))
            )
            busy_out = session.scalar(
                select(func.count()).where(OutboxMail.state.in_(("pending", "sending")))
            )
            unprocessable = session.execute(
                select(
                    RawMessage.id,
                    RawMessage.message_id,
                    RawMessage.attempts,
                    RawMessage.last_error,
                ).where(RawMessage.state == "unprocessable")
            ).all()
    finally:
        engine.dispose()
    assert unprocessable == [], f"set aside (id, Message-ID, attempts, error): {unprocessable}"
    return expected.certain <= incidents and busy_raw == 0 and busy_out == 0


def wait_drained(database_url: str, expected: Expected, tail: Callable[[], str]) -> float:
    started = time.monotonic()
    while not drained(database_url, expected):
        if time.monotonic() - started > DRAIN_LIMIT:
            raise AssertionError(f"not drained after {DRAIN_LIMIT:g} s: {tail()}")
        time.sleep(1)
    return time.monotonic() - started


def check_exactly_once(
    database_url: str, maildirs: list[Path], expected: Expected
) -> dict[str, int]:
    """Each certain address: one stored message, one incident, one sent ack, delivered once;
    an uncertain one: at most that; nothing else; every delivered file once. Returns counts."""
    engine = db.make_engine(database_url)
    try:
        with db.session_factory(engine)() as session:
            stored = Counter(session.scalars(select(RawMessage.message_id)))
            states = Counter(session.scalars(select(RawMessage.state)))
            incidents = Counter(session.scalars(select(Incident.reply_address)))
            outbox = list(
                session.execute(
                    select(
                        OutboxMail.kind,
                        OutboxMail.recipients,
                        OutboxMail.message_id,
                        OutboxMail.state,
                    )
                )
            )
    finally:
        engine.dispose()
    doubled_raw = {m: n for m, n in stored.items() if n > 1}
    assert doubled_raw == {}, f"stored more than once: {doubled_raw}"
    assert set(states) <= {"processed", "held"}, states
    assert states["held"] == len(expected.held), states
    lost = expected.certain - set(incidents)
    assert lost == set(), f"{len(lost)} lost, e.g. {sorted(lost)[:5]}"
    doubled = {a: n for a, n in incidents.items() if n > 1}
    assert doubled == {}, f"{len(doubled)} doubled, e.g. {sorted(doubled)[:5]}"
    unknown = set(incidents) - expected.certain - expected.uncertain
    assert unknown == set(), f"incidents nobody sent: {sorted(unknown)[:5]}"
    acks = Counter(_address(recipients) for kind, recipients, _, _ in outbox if kind == "ack")
    assert set(acks) == set(incidents), "an incident without its acknowledgment, or the reverse"
    assert all(n == 1 for n in acks.values()), {a: n for a, n in acks.items() if n > 1}
    assert {state for *_, state in outbox} <= {"sent"}, Counter(s for *_, s in outbox)
    files = delivered(maildirs)
    assert all(n == 1 for n in files.values()), {m: n for m, n in files.items() if n > 1}
    assert set(files) == {message_id for _, _, message_id, _ in outbox}
    return {
        "accepted": len(expected.certain),
        "uncertain": len(expected.uncertain),
        "incidents": sum(incidents.values()),
        "acks": sum(acks.values()),
        "delivered": sum(files.values()),
    }
