"""The license-key mails (R14–R16): the key mail, finished when it is sent, and two notices.

The key exists only in the mail that carries it (R15, R26): the outbox row holds the request for
the issuer and a preview whose key is a placeholder. When the row is due the dispatcher asks
:class:`LicenseMail` for its bytes: one call of the profile's issuer, then the queued mail again
(same Message-ID, recipients and thread) with the key. Those bytes go to the transport only,
never back into the row, never into a log or an error text.
"""

from __future__ import annotations

import json
import subprocess
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from intake.config import Config
from intake.incidenttag import incident_tag
from intake.models import OutboxMail
from intake.states import OutboxKind, OutboxState
from responder.acks import format_ja
from responder.outbox import first_due
from responder.queue import SCHEDULED, Thread, mail_bytes, queue_mail
from responder.staffnotify import alert_staff

LICENSE_KEY = OutboxKind.LICENSE_KEY  # the kind of the key mail, whose send-time hook this is
KEY_PLACEHOLDER = "（送信時に発行）"  # the key in the stored preview
ISSUER_TIMEOUT = 30.0  # seconds


class IssuerFailed(Exception):
    """The issuer gave no usable key. The text becomes the row's ``last_error``: it says what
    went wrong (exit status, timeout, shape of the output), never what the issuer printed."""


def issue_key(argv: list[str], request: dict[str, Any], timeout: float = ISSUER_TIMEOUT) -> str:
    """Run the issuer once with the request as JSON on stdin; the key is its one line of output.
    Its stderr is discarded unread: it may echo the key."""
    if not argv:
        raise IssuerFailed("no license_issuer configured")
    data = json.dumps(request, ensure_ascii=False).encode()
    try:
        done = subprocess.run(argv, input=data, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise IssuerFailed(f"timed out after {timeout:g} s") from None  # drops its output
    except OSError as exc:
        raise IssuerFailed(f"cannot run the issuer ({type(exc).__name__})") from None
    if done.returncode != 0:
        raise IssuerFailed(f"exit status {done.returncode}")
    try:
        lines = done.stdout.decode("utf-8").strip().splitlines()
    except UnicodeDecodeError:
        raise IssuerFailed("output is not UTF-8") from None
    if len(lines) != 1:
        raise IssuerFailed(f"{len(lines)} lines of output, expected one")
    return lines[0].strip()


def mask_address(address: str) -> str:
    """``itsupport@example.co.jp`` → ``it***@example.co.jp`` (a short local part keeps one
    character): enough for the customer to recognise the registered contact, too little to hand
    it to a requester who is not that contact (R15)."""
    local, _, domain = address.partition("@")
    return f"{local[:2] if len(local) > 3 else local[:1]}***@{domain}"


def date_ja(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def queue_key_mail(
    session: Session,
    config: Config,
    profile: str,
    *,
    incident_id: int,
    to: list[str],
    due: datetime,
    request: dict[str, Any],
    context: dict[str, Any],
    thread: Thread,
    now: datetime,
) -> str:
    """R14/R16: the key mail as a row due at ``due``, with the issuer's request (R15: ``to`` is
    the registered contacts only). Not counted against R27's hourly limit: the customer asked
    for it. Returns its Message-ID, fixed now and kept for the real send."""
    payload = {
        "request": request,
        "context": context,
        "thread": {"in_reply_to": thread.in_reply_to, "references": thread.references},
        "due_at": due.isoformat(),  # R16: lateness is judged by it, whatever the retries
    }
    sent = queue_mail(  # the stored bytes are a preview, the key a placeholder
        session,
        config,
        profile,
        kind=OutboxKind.LICENSE_KEY,
        to=to,
        now=now,
        template="license_key",
        context={**context, "key": KEY_PLACEHOLDER},
        thread=thread,
        voice=SCHEDULED,
        incident_id=incident_id,
        due_at=due,
        payload=payload,
    )
    assert sent is not None  # registered contacts, and never held back
    return sent


def queue_redirect(
    session: Session,
    config: Config,
    profile: str,
    *,
    to: list[str],
    incident_id: int,
    tag: str,
    contacts: list[str],
    due: datetime,
    thread: Thread,
    now: datetime,
    fields: dict[str, str | None],
) -> str | None:
    """R15: a requester who is not a registered contact learns where (masked) and when the key
    goes; it never goes to them."""
    return queue_mail(
        session,
        config,
        profile,
        kind=OutboxKind.LICENSE_REDIRECT,
        to=to,
        now=now,
        template="license_redirect",
        context={
            "tag": tag,
            "masked": [mask_address(c) for c in contacts],
            "due": format_ja(due),
            "company": fields.get("company"),
            "name": fields.get("name"),
        },
        thread=thread,
        incident_id=incident_id,
    )


def queue_refused(
    session: Session,
    config: Config,
    profile: str,
    *,
    to: list[str],
    incident_id: int,
    tag: str,
    reason: str,
    received_at: datetime,
    last_end: date | None,
    renewal_until: date | None,
    thread: Thread,
    now: datetime,
    fields: dict[str, str | None],
) -> str | None:
    """R15: an ineligible request is told why. ``reason``: ``lapsed``, with the last period's
    end and, while less than a year has passed since, until when a renewal is still possible
    (after it, 再継続年間サポート, R24(3)); ``no_period`` or ``unidentified``: staff will check
    and write."""
    return queue_mail(
        session,
        config,
        profile,
        kind=OutboxKind.LICENSE_REFUSED,
        to=to,
        now=now,
        template="license_refused",
        context={
            "tag": tag,
            "reason": reason,
            "received_at": format_ja(received_at),
            "period_end": date_ja(last_end) if last_end else "",
            "renewal_until": date_ja(renewal_until) if renewal_until else "",
            "company": fields.get("company"),
            "name": fields.get("name"),
        },
        thread=thread,
        incident_id=incident_id,
    )


class LicenseMail:
    """The dispatcher's send-time hook for ``license_key`` rows (R14–R16)."""

    def __init__(self, config: Config, timeout: float = ISSUER_TIMEOUT) -> None:
        self.config = config
        self.timeout = timeout

    def compose(self, row: OutboxMail, now: datetime) -> bytes:
        """One issuer call, then the queued mail with the key (dated now, when it is sent)."""
        payload = row.payload or {}
        argv = self.config.profile(row.profile).license_issuer
        key = issue_key(argv, payload["request"], self.timeout)
        thread = payload["thread"]
        return mail_bytes(
            self.config,
            row.profile,
            to=list(row.recipients),
            message_id=row.message_id,
            date=now,
            template="license_key",
            context={**payload["context"], "key": key},
            thread=Thread(thread["in_reply_to"], thread["references"]),
            voice=SCHEDULED,
            kind=row.kind,
        )

    def failed(self, session: Session, row: OutboxMail, now: datetime) -> None:
        """R16: the key mail is retried, but the promised day may be missed: staff hear of the
        first failure (the error text holds no key)."""
        tag = incident_tag(row.incident_id, self.config.profile(row.profile).tag_prefix)
        retry = (
            "再試行しません（送信失敗）"
            if row.state == OutboxState.FAILED
            else f"自動で再試行します（次回 {format_ja(row.due_at)}）"
        )
        alert_staff(
            session,
            self.config,
            row.profile,
            subject=f"{tag} ライセンスキーのメールを送信できません",
            body=(
                f"{tag} のライセンスキーのメール（送信メール {row.id}）を送信できませんでした。\n"
                f"原因: {row.last_error}\n"
                f"送付期限: {format_ja(first_due(row))}\n"
                f"{retry}。発行プログラムまたは送信経路を確認してください。\n"
            ),
            now=now,
            incident_id=row.incident_id,
        )

    def sent(self, session: Session, row: OutboxMail, now: datetime) -> None:
        """Nothing more to do once the key mail is delivered."""
