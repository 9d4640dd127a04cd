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
from intake.models import OutboxMail
from responder.acks import Thread, _queue, format_ja
from responder.compose import OutgoingMail, compose, new_message_id
from responder.outbox import first_due, queue_mail
from responder.staffnotify import alert_staff
from responder.templates import render_mail

LICENSE_KEY = "license_key"  # the outbox kind of the key mail
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


def _key_mail(
    config: Config,
    profile: str,
    *,
    message_id: str,
    to: list[str],
    payload: dict[str, Any],
    key: str,
    dated: datetime,
) -> bytes:
    """The key mail's bytes, the same at queue time (placeholder) and at send time (the key)."""
    terms = config.profile(profile)
    subject, body = render_mail(
        "license_key",
        profile_name=terms.display_name or profile,
        support_address=terms.support_address,
        key=key,
        **payload["context"],
    )
    return compose(
        OutgoingMail(
            sender=terms.support_address,
            sender_name=terms.display_name,
            to=to,
            subject=subject,
            body=body,
            message_id=message_id,
            date=dated,
            in_reply_to=payload["thread"]["in_reply_to"],
            references=payload["thread"]["references"],
            automatic="auto-generated",  # sent on a schedule, not in reply to the mail itself
            charset=terms.outgoing_charset,
            profile=profile,
        )
    )


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
    message_id = new_message_id(config.profile(profile).support_address)
    payload = {
        "request": request,
        "context": context,
        "thread": {"in_reply_to": thread.in_reply_to, "references": thread.references},
        "due_at": due.isoformat(),  # R16: lateness is judged by it, whatever the retries
    }
    preview = _key_mail(
        config,
        profile,
        message_id=message_id,
        to=to,
        payload=payload,
        key=KEY_PLACEHOLDER,
        dated=now,
    )
    queue_mail(
        session,
        kind=LICENSE_KEY,
        profile=profile,
        recipients=to,
        data=preview,
        message_id=message_id,
        now=now,
        due_at=due,
        incident_id=incident_id,
        automatic=False,
        payload=payload,
    )
    return message_id


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
    return _queue(
        session,
        config,
        profile,
        kind="license_redirect",
        template="license_redirect",
        to=to,
        thread=thread,
        now=now,
        incident_id=incident_id,
        tag=tag,
        masked=[mask_address(c) for c in contacts],
        due=format_ja(due),
        company=fields.get("company"),
        name=fields.get("name"),
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
    return _queue(
        session,
        config,
        profile,
        kind="license_refused",
        template="license_refused",
        to=to,
        thread=thread,
        now=now,
        incident_id=incident_id,
        tag=tag,
        reason=reason,
        received_at=format_ja(received_at),
        period_end=date_ja(last_end) if last_end else "",
        renewal_until=date_ja(renewal_until) if renewal_until else "",
        company=fields.get("company"),
        name=fields.get("name"),
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
        return _key_mail(
            self.config,
            row.profile,
            message_id=row.message_id,
            to=list(row.recipients),
            payload=payload,
            key=key,
            dated=now,
        )

    def failed(self, session: Session, row: OutboxMail, now: datetime) -> None:
        """R16: the key mail is retried, but the promised day may be missed: staff hear of the
        first failure (the error text holds no key)."""
        tag = f"[{self.config.profile(row.profile).tag_prefix}{row.incident_id}]"
        retry = (
            "再試行しません（送信失敗）"
            if row.state == "failed"
            else f"自動で再試行します（次回 {format_ja(row.due_at)}）"
        )
        alert_staff(
            session,
            self.config,
            row.profile,
            subject=f"{tag} ライセンスキーのメールを送信できません",
            body=(
                f"{tag} のライセンスキーのメール（outbox {row.id}）を送信できませんでした。\n"
                f"原因: {row.last_error}\n"
                f"送付期限: {format_ja(first_due(row))}\n"
                f"{retry}。発行プログラムまたは送信経路を確認してください。\n"
            ),
            now=now,
            incident_id=row.incident_id,
        )
