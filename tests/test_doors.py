"""Every door ends in the same accept (docs/architecture.md, "The flow of one message"), through
the real daemon.

SMTP over smtplib to ``uketsuke run``, IMAP from a real Dovecot, phone from the command line:
each incident carries the fields as stated and its acknowledgment reaches the Maildir sink,
because all of them run ``intake.accept.accept``.
"""

from __future__ import annotations

import email
import json
import smtplib
import time
from email import policy
from pathlib import Path

from tests.daemon import Daemon, write_imap_config
from tests.mailmaker import FIELDS_BLOCK, make_mail

STATED = {
    "company": "株式会社サンプル商事",
    "name": "山田 太郎",
    "domain": "example.co.jp",
    "customer_number": "C0123-4567",
}


def incidents(daemon: Daemon) -> list[dict]:
    listed = daemon.cli("incidents", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return [json.loads(line) for line in listed.stdout.splitlines()]


def acknowledgments(daemon: Daemon) -> list[email.message.EmailMessage]:
    sink = daemon.home / "mail-out" / "new"
    files = sorted(sink.iterdir()) if sink.exists() else []
    return [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]


def wait_for(daemon: Daemon, count: int, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = incidents(daemon)
        if len(found) >= count and len(acknowledgments(daemon)) >= count:
            return found
        time.sleep(0.3)
    raise AssertionError(f"expected {count} incidents with acknowledgments: {daemon.tail()}")


def test_r2_r10_smtp_and_imap_doors_end_in_the_same_accept(daemon: Daemon, fresh_dovecot) -> None:
    config = write_imap_config(daemon.home / "uketsuke.toml", fresh_dovecot, "desknet")
    daemon.config = config
    daemon.start()
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=10) as client:
        client.sendmail(
            "yamada@example.co.jp",
            ["support@example.jp"],
            make_mail(FIELDS_BLOCK + "\nSMTPで届いた質問です。\n"),
        )
    fresh_dovecot.deliver(make_mail(FIELDS_BLOCK + "\nIMAPで届いた質問です。\n"))
    smtp, imap = sorted(wait_for(daemon, 2), key=lambda i: i["channel"] != "smtp")
    assert (smtp["channel"], smtp["profile"]) == ("smtp", "helpdesk")
    assert (imap["channel"], imap["profile"]) == ("imap", "desknet")
    for incident in (smtp, imap):
        assert incident["fields"] == STATED  # R1: as stated, no registry loaded
    subjects = sorted(str(m["Subject"]) for m in acknowledgments(daemon))
    assert [s[: len(f"[#{n}]")] for s, n in zip(subjects, [1, 2], strict=True)] == ["[#1]", "[#2]"]
    assert daemon.terminate() == 0


def test_r7_r10_phone_door_acknowledged_by_email_at_the_registered_contact(
    daemon: Daemon, tmp_path: Path
) -> None:
    csv = tmp_path / "customers.csv"
    csv.write_text(
        "customer_number,company,domains,contact_emails\n"
        "C0123-4567,株式会社サンプル商事,example.co.jp,it@example.co.jp\n",
        encoding="utf-8",
    )
    assert daemon.cli("customers", "import", str(csv)).returncode == 0
    made = daemon.cli(
        "incidents", "new", "--customer", "C0123-4567", "--name", "山田 太郎",
        "--text", "電話: 管理画面に入れません。", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["fields"] == STATED
    daemon.start()  # the daemon's outbox sends what the command queued
    [incident] = wait_for(daemon, 1)
    [ack] = acknowledgments(daemon)
    assert str(ack["To"]) == "it@example.co.jp"
    assert str(ack["Subject"]).startswith(f"[#{incident['number']}]")
    assert daemon.terminate() == 0
