"""License-key reissue by mail (R14–R16), end to end: a real mail through intake, a real
database (``sessions``), the real dispatcher into a Maildir and a real issuer subprocess
(``tests/license_issuer.py``, which logs each request it gets)."""

from __future__ import annotations

import email
import json
import logging
import sys
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config, load_config
from intake.customers import import_rows, parse_rows
from intake.models import Base, OutboxMail, RawMessage, RawState, StaffUser
from intake.pipeline import Pipeline
from intake.store import store_raw
from responder.acks import format_ja
from responder.license import KEY_PLACEHOLDER, LICENSE_KEY, LicenseMail
from responder.outbox import Dispatcher, backoff
from responder.transports import MaildirTransport
from scheduler.calendar import TOKYO
from scheduler.service import job_ticks
from tests.mailmaker import FIELDS_BLOCK, make_mail

ISSUER = Path(__file__).with_name("license_issuer.py")
HEADER = "customer_number,company,domains,contact_emails,profile,product,order_accepted\n"
CUSTOMER = "C0123-4567,株式会社サンプル商事,example.co.jp,it@example.co.jp,desknet,NEO"
ACTIVE = CUSTOMER + ",2026-06-10\n"  # supported 2026-06-10 .. 2027-06-30 (R24(1))
CONTACT = "it@example.co.jp"
ASK = "サーバー移行に伴い、ライセンスキーの再発行をお願いいたします。\n"
STAFF = "tanaka@example.jp"
KEY = "NEO-C0123-4567-0001-7Q4Z"  # what tests/license_issuer.py prints on its first call


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO)


class At:
    """The daemon's clock, set by the test."""

    def __init__(self, instant: datetime) -> None:
        self.instant = instant

    def now(self) -> datetime:
        return self.instant


def configure(tmp_path: Path, mode: str | None = "ok", product: str = "") -> Config:
    """The daemon's configuration from a TOML file; ``mode`` None: no issuer (the default)."""
    issuer = [sys.executable, str(ISSUER), str(tmp_path / "issued.log"), mode] if mode else []
    path = tmp_path / f"uketsuke-{mode}.toml"
    path.write_text(
        f"home = {json.dumps(str(tmp_path / 'home'))}\n"
        "[outbox]\n"
        f"maildir = {json.dumps(str(tmp_path / 'out'))}\n"
        "[profiles.desknet]\n"
        f"license_issuer = {json.dumps(issuer)}\n"
        f"license_product = {json.dumps(product)}\n",
        encoding="utf-8",
    )
    return load_config(path, env={})


def dispatcher(sessions: sessionmaker[Session], config: Config, timeout: float = 30) -> Dispatcher:
    """As ``job_ticks`` builds it (the daemon's own is used for the restart)."""
    return Dispatcher(
        sessions,
        MaildirTransport(config.outbox_maildir),
        lambda profile: config.profile(profile).support_address,
        hooks={LICENSE_KEY: LicenseMail(config, timeout)},
    )


def issued(tmp_path: Path) -> list[dict]:
    """The requests the issuer got, one per call."""
    log = tmp_path / "issued.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def load_registry(sessions: sessionmaker[Session], rows: str) -> None:
    parsed = parse_rows((HEADER + rows).encode(), "desknet", ["helpdesk", "desknet"])
    with sessions.begin() as session:
        import_rows(session, parsed, progress=False)


def add_staff(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add(StaffUser(email=STAFF, name="田中", reply_secret="s" * 32, profiles=[]))


def request(
    sessions: sessionmaker[Session],
    config: Config,
    at: datetime,
    *,
    sender: str = CONTACT,
    body: str = FIELDS_BLOCK + "\n" + ASK,
    headers: dict[str, str] | None = None,
    state: str = RawState.PROCESSED,
) -> None:
    """A mail to the DN desk received at ``at`` and processed then."""
    data = make_mail(
        body,
        subject="ライセンスキー再発行のお願い",
        sender=sender,
        to="neo-support@example.jp",
        headers=headers,
    )
    stored = store_raw(sessions, data, channel="smtp", profile="desknet")
    with sessions.begin() as session:
        session.get(RawMessage, stored.id).received_at = at
    assert Pipeline(config, sessions).process(stored.id, at) == state


def outbox(sessions: sessionmaker[Session], kind: str) -> list[OutboxMail]:
    with sessions() as session:
        return list(
            session.scalars(select(OutboxMail).where(OutboxMail.kind == kind).order_by("id"))
        )


def key_row(sessions: sessionmaker[Session]) -> OutboxMail:
    [row] = outbox(sessions, LICENSE_KEY)
    return row


def parsed(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


def body_of(data: bytes) -> str:
    return parsed(data).get_content()


def delivered(config: Config, row: OutboxMail) -> EmailMessage:
    transport = MaildirTransport(config.outbox_maildir)
    return parsed((config.outbox_maildir / "new" / transport.filename(row.message_id)).read_bytes())


def stored_text(sessions: sessionmaker[Session]) -> str:
    """Every column of every row, mail bytes decoded too: where a key must never be."""
    parts: list[str] = []
    with sessions() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes):
                        parts.append(value.decode("latin-1"))
                        if b"Content-Type" in value:
                            parts.append(body_of(value))
                    else:
                        parts.append(json.dumps(value, ensure_ascii=False, default=str))
    return "\n".join(parts)


def test_r14_request_at_1700_on_a_business_day_is_sent_at_once(sessions, tmp_path) -> None:
    config = configure(tmp_path)
    load_registry(sessions, ACTIVE)
    received = jst(2027, 1, 12, 17, 0, 0)  # Tuesday, the cutoff itself: same day (R14)
    request(sessions, config, received)
    row = key_row(sessions)
    assert row.due_at == received
    dispatcher(sessions, config).run_once(received)
    row = key_row(sessions)
    assert (row.state, row.late) == ("sent", False)
    assert KEY in delivered(config, row).get_content()


def test_r14_r15_r16_friday_after_cutoff_goes_tuesday_to_the_contact_only(
    sessions, tmp_path, cli
) -> None:
    """Fri 2027-01-08 17:00:01; Mon 01-11 is 成人の日: the key mail is due Tue at 9:00, the
    DN opening, exactly as `uketsuke calendar license-due` says."""
    config = configure(tmp_path)
    load_registry(sessions, ACTIVE)
    received = jst(2027, 1, 8, 17, 0, 1)
    request(sessions, config, received, sender="IT@Example.co.jp")  # a contact, any case
    row = key_row(sessions)
    shown = cli("calendar", "--profile", "desknet", "license-due", "2027-01-08T17:00:01")
    assert row.due_at == jst(2027, 1, 12, 9, 0) == datetime.fromisoformat(shown.stdout.strip())
    assert row.recipients == [CONTACT] and not row.automatic  # R15; not under R27's limit
    assert outbox(sessions, "license_redirect") == []  # the requester is the contact
    preview = parsed(row.data)
    assert preview["Subject"].startswith(f"[#{row.incident_id}]")
    assert preview["Auto-Submitted"] == "auto-generated"
    assert KEY_PLACEHOLDER in preview.get_content()
    asked = dict(row.payload["request"])
    assert ASK.strip() in asked.pop("text")  # the inquiry as the customer wrote it
    assert asked == {
        "customer_number": "C0123-4567",
        "company": "株式会社サンプル商事",
        "product": "NEO",
        "incident": row.incident_id,
    }

    sender = dispatcher(sessions, config)
    sender.run_once(jst(2027, 1, 11, 12, 0))  # the holiday: nothing yet
    assert key_row(sessions).state == "pending" and issued(tmp_path) == []
    sender.run_once(row.due_at)
    sent = key_row(sessions)
    assert (sent.state, sent.late, sent.attempts) == ("sent", False, 1)
    [asked] = issued(tmp_path)  # the issuer, exactly once, with the request
    assert asked == row.payload["request"]
    mail = delivered(config, sent)
    assert KEY in mail.get_content() and KEY_PLACEHOLDER not in mail.get_content()
    assert (mail["Message-ID"], mail["To"]) == (row.message_id, CONTACT)
    assert mail["In-Reply-To"] and mail["Subject"] == preview["Subject"]
    everything = stored_text(sessions)
    assert KEY not in everything and KEY_PLACEHOLDER in everything  # only the sent mail has it
    assert sender.run_once(row.due_at + timedelta(hours=1)) == 0
    assert len(issued(tmp_path)) == 1


@pytest.mark.parametrize(
    "received",
    [jst(2026, 12, 28, 17, 0, 1), jst(2026, 12, 30, 10, 0), jst(2027, 1, 3, 23, 59)],
)
def test_r14_year_end_closure_sends_on_the_first_business_day(sessions, tmp_path, received) -> None:
    config = configure(tmp_path)
    load_registry(sessions, ACTIVE)
    request(sessions, config, received)
    assert key_row(sessions).due_at == jst(2027, 1, 4, 9, 0)  # 12-29..01-03 closed


def test_r14_request_completed_after_being_held_counts_from_its_first_mail(
    sessions, tmp_path
) -> None:
    """Asking for a missing field never costs a day: asked Fri 16:00, answered 17:30 (after
    the cutoff), the key still goes that Friday, at once."""
    config = configure(tmp_path)
    load_registry(sessions, ACTIVE)
    first = FIELDS_BLOCK.replace("顧客番号：C0123-4567\n", "") + "\n" + ASK
    request(sessions, config, jst(2027, 1, 8, 16, 0), body=first, state=RawState.HELD)
    [asked] = outbox(sessions, "ask_fields")
    answer = "顧客番号：C0123-4567\n"
    thread = {"In-Reply-To": asked.message_id, "References": asked.message_id}
    request(sessions, config, jst(2027, 1, 8, 17, 30), body=answer, headers=thread)
    assert key_row(sessions).due_at == jst(2027, 1, 8, 17, 30)


def test_r15_requester_not_a_contact_is_told_where_the_key_goes(sessions, tmp_path) -> None:
    config = configure(tmp_path)
    load_registry(sessions, ACTIVE)
    request(sessions, config, jst(2027, 1, 8, 17, 0, 1), sender="yamada@example.co.jp")
    row = key_row(sessions)
    assert row.recipients == [CONTACT]
    [redirect] = outbox(sessions, "license_redirect")
    assert redirect.recipients == ["yamada@example.co.jp"]
    text = body_of(redirect.data)
    assert "i***@example.co.jp" in text and CONTACT not in text  # masked, as it is short
    assert format_ja(row.due_at) in text and "2027年1月12日(火) 09:00" in text
    assert parsed(redirect.data)["Subject"].startswith(f"[#{row.incident_id}]")
    dispatcher(sessions, config).run_once(row.due_at)
    assert delivered(config, key_row(sessions))["To"] == CONTACT
    assert KEY not in delivered(config, redirect).get_content()


@pytest.mark.parametrize(
    ("order", "says"),
    [
        ("2024-01-10", ["2025年1月31日", "再継続年間サポートのご購入"]),  # a year or more ago
        ("2025-06-10", ["2026年6月30日", "2027年6月30日 を過ぎてから", "再継続年間サポート"]),
    ],
)
def test_r15_lapsed_support_is_refused_with_its_end_date_and_staff_alerted(
    sessions, tmp_path, order, says
) -> None:
    config = configure(tmp_path)
    load_registry(sessions, f"{CUSTOMER},{order}\n")
    add_staff(sessions)
    request(sessions, config, jst(2027, 1, 12, 10, 0), sender="yamada@example.co.jp")
    assert outbox(sessions, LICENSE_KEY) == [] and issued(tmp_path) == []
    [refused] = outbox(sessions, "license_refused")
    assert refused.recipients == ["yamada@example.co.jp"]
    text = body_of(refused.data)
    assert all(phrase in text for phrase in says), text
    [alert] = outbox(sessions, "staff_alert")
    assert alert.recipients == [STAFF] and alert.incident_id == refused.incident_id
    subject = parsed(alert.data)["Subject"]
    assert subject.startswith(f"[#{refused.incident_id}]") and "期間満了" in subject
    assert says[0] in body_of(alert.data)  # the end date, for staff too


@pytest.mark.parametrize(
    ("registry", "says"),
    [
        (CUSTOMER + ",\n", "年間サポート期間を確認することができませんでした"),  # no period
        ("", "照合できず"),  # no registry loaded: the customer cannot be verified
    ],
)
def test_r15_unverifiable_request_is_refused_and_left_to_staff(
    sessions, tmp_path, registry, says
) -> None:
    config = configure(tmp_path)
    if registry:
        load_registry(sessions, registry)
    add_staff(sessions)
    request(sessions, config, jst(2027, 1, 12, 10, 0))
    assert outbox(sessions, LICENSE_KEY) == []
    [refused] = outbox(sessions, "license_refused")
    assert says in body_of(refused.data) and "担当者" in body_of(refused.data)
    assert len(outbox(sessions, "staff_alert")) == 1


@pytest.mark.parametrize(("product", "kind"), [("ＮＥＯ", LICENSE_KEY), ("desknet", "refused")])
def test_r15_license_product_must_be_the_supported_product(
    sessions, tmp_path, product, kind
) -> None:
    config = configure(tmp_path, product=product)
    load_registry(sessions, ACTIVE)
    request(sessions, config, jst(2027, 1, 12, 10, 0))
    assert len(outbox(sessions, LICENSE_KEY)) == (kind == LICENSE_KEY)
    assert len(outbox(sessions, "license_refused")) == (kind == "refused")


def test_r15_without_an_issuer_staff_issue_the_key_by_hand(sessions, tmp_path) -> None:
    config = configure(tmp_path, mode=None)  # the built-in default: no license_issuer
    load_registry(sessions, ACTIVE)
    add_staff(sessions)
    request(sessions, config, jst(2027, 1, 8, 17, 0, 1))
    assert outbox(sessions, LICENSE_KEY) == [] and outbox(sessions, "license_refused") == []
    [alert] = outbox(sessions, "staff_alert")
    assert "手作業" in parsed(alert.data)["Subject"]
    assert "2027年1月12日(火) 09:00" in body_of(alert.data)  # by when (R14)


def test_r16_failing_issuer_is_retried_staff_alerted_once_then_sent_late(
    sessions, tmp_path, caplog
) -> None:
    """Backoff moves the retry, not the promise: sent on its fifth attempt 7.5 min after due,
    the mail is recorded late (R16); the failing issuer's output is stored nowhere."""
    caplog.set_level(logging.DEBUG)
    config = configure(tmp_path, mode="fail")
    load_registry(sessions, ACTIVE)
    add_staff(sessions)
    request(sessions, config, jst(2027, 1, 12, 10, 0))
    due = key_row(sessions).due_at
    failing = dispatcher(sessions, config)
    at = due
    for attempt in range(1, 5):
        failing.run_once(at)
        row = key_row(sessions)
        assert (row.state, row.attempts) == ("pending", attempt)
        assert row.last_error == "IssuerFailed: exit status 3"
        assert row.due_at == at + backoff(attempt)
        at = row.due_at
    assert len(issued(tmp_path)) == 4
    [alert] = outbox(sessions, "staff_alert")  # the first failure only
    assert parsed(alert.data)["Subject"].startswith(f"[#{row.incident_id}]")
    assert "exit status 3" in body_of(alert.data)
    assert "attempt 1 failed: IssuerFailed" in caplog.text  # the class, never the output
    assert "NEO-C0123-4567" not in stored_text(sessions) + caplog.text

    working = dispatcher(sessions, configure(tmp_path, mode="ok"))
    assert at - due == timedelta(minutes=7, seconds=30)
    working.run_once(at)
    row = key_row(sessions)
    assert (row.state, row.attempts, row.late) == ("sent", 5, True)
    assert "NEO-C0123-4567-0005-7Q4Z" in delivered(config, row).get_content()
    assert len(issued(tmp_path)) == 5 and len(outbox(sessions, "staff_alert")) == 1


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("two-lines", "IssuerFailed: 2 lines of output, expected one"),
        ("empty", "IssuerFailed: 0 lines of output, expected one"),
        ("slow", "IssuerFailed: timed out after 1 s"),
    ],
)
def test_r16_issuer_without_exactly_one_key_line_is_a_failure(
    sessions, tmp_path, mode, error
) -> None:
    config = configure(tmp_path, mode=mode)
    load_registry(sessions, ACTIVE)
    request(sessions, config, jst(2027, 1, 12, 10, 0))
    dispatcher(sessions, config, timeout=1).run_once(key_row(sessions).due_at)
    row = key_row(sessions)
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, error)
    assert "NEO-C0123-4567" not in stored_text(sessions)


def test_r15_a_dispatcher_without_the_hook_never_sends_the_preview(sessions, tmp_path) -> None:
    config = configure(tmp_path)
    load_registry(sessions, ACTIVE)
    request(sessions, config, jst(2027, 1, 12, 10, 0))
    plain = Dispatcher(sessions, MaildirTransport(tmp_path / "out"), lambda p: "x@example.jp")
    plain.run_once(key_row(sessions).due_at)
    row = key_row(sessions)
    assert (row.state, row.last_error) == (
        "pending",
        "LookupError: no send-time hook for license_key mail",
    )


def test_r16_held_key_mail_is_never_sent(sessions, tmp_path) -> None:
    config = configure(tmp_path)
    load_registry(sessions, ACTIVE)
    request(sessions, config, jst(2027, 1, 12, 10, 0))
    row = key_row(sessions)
    with sessions.begin() as session:  # staff's `outbox hold`
        session.execute(update(OutboxMail).where(OutboxMail.id == row.id).values(state="held"))
    dispatcher(sessions, config).run_once(row.due_at + timedelta(days=1))
    assert key_row(sessions).state == "held" and issued(tmp_path) == []


def test_r16_restarted_daemon_sends_the_key_mail_once(sessions, tmp_path) -> None:
    """The schedule is the row: a dispatcher that ran before due and is gone, then the
    daemon's own outbox job after a restart, send it exactly once."""
    config = configure(tmp_path)
    load_registry(sessions, ACTIVE)
    request(sessions, config, jst(2027, 1, 8, 17, 0, 1))
    due = key_row(sessions).due_at
    assert dispatcher(sessions, config).run_once(due - timedelta(minutes=1)) >= 1  # the ack
    assert key_row(sessions).state == "pending"
    clock = At(due)
    tick = job_ticks(config, sessions, clock)["outbox"]  # after the restart
    tick()
    clock.instant = due + timedelta(minutes=1)
    tick()
    job_ticks(config, sessions, clock)["outbox"]()  # and another restart
    row = key_row(sessions)
    assert (row.state, row.late, row.attempts) == ("sent", False, 1)
    assert len(issued(tmp_path)) == 1
    mails = [parsed(p.read_bytes()) for p in (config.outbox_maildir / "new").iterdir()]
    assert [m["Message-ID"] for m in mails].count(row.message_id) == 1
