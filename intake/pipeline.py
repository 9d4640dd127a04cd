"""Commit #2: one stored raw message → incidents, thread, outbox rows, timers (DESIGN principle 1).

Every door ends here. One transaction per message: parse → route by kind → identify → held
inquiry or accepted incidents → outbox rows → the raw message marked with its outcome. Outcomes
other than success are exceptions handled in one place (STYLE 5). A crash before the commit leaves
the message ``received``; it is processed again after a restart. A bug leaves it
``unprocessable``, visible to staff, for ``uketsuke reprocess`` after a fix (R29).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session, defer, sessionmaker

from intake import incidents as inc
from intake.channels.fax import FaxReading
from intake.config import Config
from intake.identify import contact_addresses, identify, registry_loaded
from intake.mail.classify import categorize, is_urgent
from intake.mail.fields import extract_fields
from intake.mail.layout import analyse_layout
from intake.mail.parse import Inquiry as ParsedInquiry
from intake.mail.parse import NotAMessage, ParseContext, ParsedMessage, parse_message
from intake.mail.split import split_inquiries
from intake.models import (
    AuditEntry,
    Incident,
    IncidentMessage,
    Inquiry,
    OutboxMail,
    RawMessage,
    RawState,
    TimedAction,
)
from intake.spool import open_raw, read_raw, spool_dir
from responder.acks import Thread, queue_ack, queue_ask_fields

log = logging.getLogger("uketsuke.pipeline")

BATCH = 50
# A batch holds SQLite's write turn at least this long before it gives way to a waiting door:
# the door waits a few milliseconds more, and the processor does not commit per message.
YIELD_AFTER_SECONDS = 0.002
_FINISH_RAW = (
    update(RawMessage.__table__)
    .where(RawMessage.__table__.c.id == bindparam("raw_id"))
    .values(
        attempts=RawMessage.__table__.c.attempts + 1,
        state=bindparam("new_state"),
        last_error=bindparam("error"),
        processed_at=bindparam("at"),
    )
)

_HELD_BY_REQUEST = (
    select(Inquiry)
    .where(
        Inquiry.state == "held",
        Inquiry.request_message_id.in_(bindparam("ids", expanding=True)),
    )
    .order_by(Inquiry.id)
    .limit(1)
)

FaxReader = Callable[[bytes, str | None], FaxReading]


class Outcome(Exception):
    """A message that ends somewhere other than 'processed' (STYLE 5)."""

    state: RawState = RawState.PROCESSED

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Held(Outcome):
    state = RawState.HELD


class Ignored(Outcome):
    state = RawState.IGNORED


@dataclass
class _Batch:
    raw_ids: list[int]
    now: datetime
    again: bool
    parsed: dict[int, ParsedMessage]
    should_yield: Callable[[], bool] | None


class _Isolate(Exception):
    """A message of a batch run without SAVEPOINTs failed: run the batch again with them."""


def parse_context(config: Config, profile: str | None = None) -> ParseContext:
    """What the parser needs of the configuration: the profile's tag, staff and fax senders."""
    staff = {a.lower() for p in config.profiles.values() for a in p.staff_addresses}
    return ParseContext(
        tag_prefix=config.profile(profile).tag_prefix,
        staff_addresses=frozenset(staff),
        fax_senders=frozenset(config.fax_sender_addresses()),
    )


@dataclass
class Pipeline:
    config: Config
    sessions: sessionmaker[Session]
    read_fax: FaxReader | None = None
    _registry: bool | None = None

    @cached_property
    def context(self) -> ParseContext:
        """Built once: it is read for every message."""
        return parse_context(self.config)

    @cached_property
    def spool(self) -> Path:
        return spool_dir(self.config.home_path)

    def parse_raw(self, raw: RawMessage) -> ParsedMessage:
        """Parse a stored message from its row or its spool file (mapped, not read whole)."""
        with open_raw(self.spool, raw.data, raw.spool) as content:
            return parse_message(content, self.context)

    def process(self, raw_id: int, now: datetime, again: bool = False) -> str | None:
        """Process one stored message; returns its new state (None if someone else had it)."""
        return self.process_batch([raw_id], now, again=again).get(raw_id)

    def process_batch(
        self,
        raw_ids: list[int],
        now: datetime,
        again: bool = False,
        parsed: dict[int, ParsedMessage] | None = None,
    ) -> dict[int, str]:
        """Process stored messages in one transaction.

        One commit (one fsync) for the batch; a failure in one message costs the others
        nothing: the batch runs again with each message in its own SAVEPOINT, and the failing
        one's savepoint is rolled back and the message marked unprocessable. A crash before
        the commit leaves them all ``received``, to be processed again (R29). ``parsed`` may
        carry results parsed elsewhere (another process), keyed by raw id.
        """
        return self.process_some(raw_ids, now, again=again, parsed=parsed)[0]

    def process_some(
        self,
        raw_ids: list[int],
        now: datetime,
        again: bool = False,
        parsed: dict[int, ParsedMessage] | None = None,
        should_yield: Callable[[], bool] | None = None,
    ) -> tuple[dict[int, str], list[int]]:
        """:meth:`process_batch`, but the transaction may end early: after each message
        ``should_yield()`` is asked (another writer waits for SQLite's write turn) and, when it
        says so, the batch commits there. Returns the new states and the ids left for later."""
        batch = _Batch(raw_ids, now, again, parsed or {}, should_yield)
        try:
            return self._run_batch(batch, isolate=len(raw_ids) == 1)
        except _Isolate:  # a message failed: its batch again, each message in a SAVEPOINT
            return self._run_batch(batch, isolate=True)

    def _run_batch(self, batch: _Batch, isolate: bool) -> tuple[dict[int, str], list[int]]:
        """The batch in one transaction. Without ``isolate`` no SAVEPOINTs are taken (two
        statements and the session's bookkeeping per message): the first failure rolls the
        whole batch back and raises :class:`_Isolate`, and the batch runs again isolated."""
        states: dict[int, str] = {}
        left: list[int] = []
        with self.sessions.begin() as session:
            self._registry = registry_loaded(session)  # one look-up a batch (R2)
            query = select(RawMessage).where(RawMessage.id.in_(batch.raw_ids))
            if not batch.again:
                query = query.where(RawMessage.state == RawState.RECEIVED)
            if batch.parsed:  # parsed elsewhere: the bytes are loaded only if a step needs them
                query = query.options(defer(RawMessage.data))
            rows = session.scalars(query.order_by(RawMessage.id).with_for_update(skip_locked=True))
            started = time.monotonic()
            for position, raw in enumerate(rows.all()):
                if left or (
                    position  # at least one message a turn
                    and batch.should_yield
                    and time.monotonic() - started >= YIELD_AFTER_SECONDS
                    and batch.should_yield()
                ):
                    left.append(raw.id)  # someone waits for the write turn: commit now
                    continue
                states[raw.id] = self._process_one(
                    session, raw, batch.now, batch.parsed.get(raw.id), isolate
                )
        for raw_id, state in states.items():
            log.info("raw %s → %s", raw_id, state)
        return states, left

    def _process_one(
        self,
        session: Session,
        raw: RawMessage,
        now: datetime,
        parsed: ParsedMessage | None,
        isolate: bool,
    ) -> str:
        state: str
        try:
            # Autoflush off: the steps flush where they need ids; each look-up no longer
            # flushes first.
            with (
                session.begin_nested() if isolate else contextlib.nullcontext(),
                session.no_autoflush,
            ):
                try:
                    reason = self._route(session, raw, now, parsed)
                    state = RawState.PROCESSED
                except Outcome as outcome:  # held or ignored: its rows are kept
                    state, reason = outcome.state, outcome.reason
            if not isolate:
                session.flush()  # what would fail at the commit fails here, for this message
        except Exception as exc:  # noqa: BLE001 - R29: a bug holds the message, never drops it
            if not isolate:
                raise _Isolate from exc
            state = RawState.UNPROCESSABLE
            reason = f"{type(exc).__name__}: {str(exc)[:200]}"
            # R26: the class only; the traceback (which may quote data) at debug level.
            log.error("raw %s unprocessable (%s)", raw.id, type(exc).__name__)
            log.debug("raw %s traceback", raw.id, exc_info=True)
        # One UPDATE of the raw row, in Core: no unit-of-work flush for it.
        session.connection().execute(
            _FINISH_RAW,
            {
                "raw_id": raw.id,
                "new_state": state,
                "error": reason if state != RawState.PROCESSED else None,
                "at": now,
            },
        )
        return state

    # -- routing ------------------------------------------------------------------------------

    def _route(
        self, session: Session, raw: RawMessage, now: datetime, parsed: ParsedMessage | None
    ) -> str | None:
        if parsed is None:
            try:
                parsed = self.parse_raw(raw)
            except NotAMessage as exc:
                raise Held(str(exc)) from None
        profile = raw.profile or self.config.default_profile
        if parsed.kind == "bounce":
            return self._bounce(session, parsed, now)
        if parsed.kind == "auto_reply":
            raise Ignored(f"automatic mail ({parsed.auto_reason})")  # R27: never answered
        if parsed.kind == "staff_reply":
            self._audit(session, "staff_reply_held", raw, now, {"profile": profile})
            raise Held("staff reply: answering from mail clients is not enabled yet")
        if parsed.kind == "reply" and self._follow_up(session, raw, parsed, profile, now):
            return None
        if parsed.kind == "fax":
            return self._fax(session, raw, parsed, profile, now)
        return self._inquiry(session, raw, parsed, profile, now, channel=raw.channel)

    def _bounce(self, session: Session, parsed: ParsedMessage, now: datetime) -> str:
        """R27: tie a bounce to the mail it reports and flag that mail's incident."""
        reported = (
            parsed.bounce_of
            and session.scalars(
                select(OutboxMail).where(OutboxMail.message_id == parsed.bounce_of)
            ).one_or_none()
        )
        if reported and reported.incident_id:
            incident = session.get(Incident, reported.incident_id)
            if incident is not None and "bounce" not in incident.flags:
                incident.flags = [*incident.flags, "bounce"]
                incident.updated_at = now
        which = f"outbox {reported.id}" if reported else "unknown mail"
        raise Ignored(f"bounce of {which}")

    def _follow_up(
        self, session: Session, raw: RawMessage, parsed: ParsedMessage, profile: str, now: datetime
    ) -> bool:
        """R19 follow-ups and R2 completions; False when the reply matches nothing of ours."""
        thread_ids = [i for i in [parsed.in_reply_to, *parsed.references] if i]
        held = self._held_inquiry(session, thread_ids)
        if held is not None:
            self._complete(session, raw, parsed, held, now)
            return True
        matches: list[Incident] = inc.find_by_thread(session, thread_ids)
        if not matches and parsed.ticket_ref is not None:
            tagged = session.get(Incident, parsed.ticket_ref)
            if tagged is not None:
                sender = (parsed.from_address or "").lower()
                if sender not in inc.participants(session, tagged):
                    raise Held(f"tag [#{tagged.id}] from a sender who is not a participant")
                matches = [tagged]
        if not matches:
            return False
        for incident in matches:
            if incident.state == "closed":
                self._reopen(session, raw, parsed, incident, profile, now)
            else:
                self._join(session, incident, raw, parsed, now)
        return True

    def _join(
        self,
        session: Session,
        incident: Incident,
        raw: RawMessage,
        parsed: ParsedMessage,
        now: datetime,
    ) -> None:
        inc.join(
            session,
            incident,
            raw_message_id=raw.id,
            message_id=parsed.message_id,
            author=parsed.from_address,
            body=parsed.body,
            now=now,
        )

    def _reopen(
        self,
        session: Session,
        raw: RawMessage,
        parsed: ParsedMessage,
        closed: Incident,
        profile: str,
        now: datetime,
    ) -> None:
        """R19: a follow-up to a closed incident reopens it inside the window, else a new one."""
        window = timedelta(days=self.config.intake.reopen_window_days)
        if window and closed.closed_at and now - closed.closed_at <= window:
            closed.state = "open"
            closed.closed_at = None
            self._join(session, closed, raw, parsed, now)
            return
        items = [inc.NewIncident(i.text, i.category, i.urgent) for i in parsed.inquiries]
        created = inc.create_incidents(
            session,
            profile=closed.profile,
            channel=raw.channel,
            customer=closed.customer,
            inquiry=None,
            items=items[:1],
            subject=parsed.subject,
            reply_address=closed.reply_address or parsed.from_address,
            flags=[],
            raw_message_id=raw.id,
            message_id=parsed.message_id,
            author=parsed.from_address,
            now=now,
            linked_incident_id=closed.id,
        )
        self._ack(session, raw, parsed, closed.profile, created, now, [closed.reply_address or ""])

    # -- new inquiries ------------------------------------------------------------------------

    def _inquiry(
        self,
        session: Session,
        raw: RawMessage,
        parsed: ParsedMessage,
        profile: str,
        now: datetime,
        *,
        channel: str,
        fields: dict[str, str | None] | None = None,
        reply_to: list[str] | None = None,
        inquiry: Inquiry | None = None,
    ) -> str | None:
        fields = fields or parsed.fields
        terms = self.config.profile(profile)
        found = identify(
            session, fields, profile, terms.require_active_support, now, registry=self._registry
        )
        if reply_to is None:
            reply_to = [parsed.from_address] if parsed.from_address else []
        if not found.accepted:
            self._hold(
                session,
                raw,
                parsed,
                profile,
                now,
                channel,
                fields,
                found.missing,
                found.unknown,
                reply_to,
            )
        flags = list(found.flags)
        if parsed.language != "ja":
            flags.append("non_japanese")  # R6
        if not reply_to and found.customer is not None:
            reply_to = contact_addresses(found.customer)[:1]
        items = [inc.NewIncident(i.text, i.category, i.urgent) for i in parsed.inquiries]
        created = inc.create_incidents(
            session,
            profile=profile,
            channel=channel,
            customer=found.customer,
            inquiry=inquiry,
            items=items,
            subject=parsed.subject,
            reply_address=reply_to[0] if reply_to else None,
            flags=flags,
            raw_message_id=raw.id,
            message_id=parsed.message_id,
            author=parsed.from_address,
            now=now,
        )
        if inquiry is not None:
            inquiry.state = "accepted"
            inquiry.resolved_at = now
            inquiry.customer_id = found.customer.id if found.customer else None
        self._ack(session, raw, parsed, profile, created, now, reply_to, fields)
        return f"{len(created)} incident(s)"

    def _ack(
        self,
        session: Session,
        raw: RawMessage,
        parsed: ParsedMessage,
        profile: str,
        created: list[inc.CreatedIncident],
        now: datetime,
        reply_to: list[str],
        fields: dict[str, str | None] | None = None,
    ) -> None:
        recipients = [a for a in reply_to if a]
        if not recipients:
            return
        thread = Thread(parsed.message_id, [*parsed.references])
        sent = queue_ack(
            session,
            self.config,
            profile,
            to=recipients,
            incidents=created,
            received_at=raw.received_at,
            now=now,
            thread=thread,
            fields=fields or parsed.fields,
            non_japanese=parsed.language != "ja",
        )
        if sent is None:
            self._audit(
                session, "ack_rate_limited", raw, now, {"incidents": [i.id for i in created]}
            )
        else:
            session.connection().execute(
                insert(IncidentMessage.__table__),
                [
                    {
                        "incident_id": incident.id,
                        "direction": "out",
                        "message_id": sent,
                        "body": "(受付のお知らせ)",
                        "created_at": now,
                    }
                    for incident in created
                ],
            )

    def _hold(
        self,
        session: Session,
        raw: RawMessage,
        parsed: ParsedMessage,
        profile: str,
        now: datetime,
        channel: str,
        fields: dict[str, str | None],
        missing: list[str],
        unknown: list[str],
        reply_to: list[str],
        reason: str = "missing_fields",
    ) -> None:
        """R2: hold, ask once for exactly what is missing or unknown, expire later."""
        expires = now + timedelta(days=self.config.intake.held_expiry_days)
        inquiry = Inquiry(
            raw_message_id=raw.id,
            profile=profile,
            channel=channel,
            sender=reply_to[0] if reply_to else None,
            state="held",
            reason=reason if not unknown else "unknown_customer",
            fields=fields,
            missing=[*missing, *unknown],
            created_at=now,
            expires_at=expires,
        )
        session.add(inquiry)
        session.flush()
        if reply_to and reason == "missing_fields":
            inquiry.request_message_id = queue_ask_fields(
                session,
                self.config,
                profile,
                to=reply_to,
                missing=missing,
                unknown=unknown,
                received_at=raw.received_at,
                expires_at=expires,
                now=now,
                thread=Thread(parsed.message_id, [*parsed.references]),
                fields=fields,
                non_japanese=parsed.language != "ja",
            )
        session.add(
            TimedAction(kind="held_expiry", due_at=expires, inquiry_id=inquiry.id, created_at=now)
        )
        raise Held(f"{reason}: {', '.join([*missing, *unknown])}")

    def _held_inquiry(self, session: Session, thread_ids: list[str]) -> Inquiry | None:
        if not thread_ids:
            return None
        return session.scalars(_HELD_BY_REQUEST, {"ids": thread_ids}).one_or_none()

    def _complete(
        self, session: Session, raw: RawMessage, parsed: ParsedMessage, held: Inquiry, now: datetime
    ) -> None:
        """R2: the customer's answer completes a held inquiry; its text becomes the incidents."""
        merged = dict(held.fields)
        for key, value in parsed.fields.items():
            if value:
                merged[key] = value
        original = session.get(RawMessage, held.raw_message_id) if held.raw_message_id else None
        source = self.parse_raw(original) if original is not None else parsed
        held.fields = merged
        self._inquiry(
            session,
            raw,
            source,
            held.profile,
            now,
            channel=held.channel,
            fields=merged,
            reply_to=[held.sender] if held.sender else None,
            inquiry=held,
        )

    def transcribe(
        self, inquiry_id: int, fields: dict[str, str], text: str | None, now: datetime
    ) -> list[int]:
        """R11: staff key in what OCR could not read; the held inquiry is accepted (R2 rules
        apply as for any inquiry) and its incidents created. Returns their numbers."""
        with self.sessions.begin() as session:
            held = session.get(Inquiry, inquiry_id, with_for_update=True)
            if held is None or held.state != "held":
                raise LookupError(f"no held inquiry {inquiry_id}")
            raw = session.get(RawMessage, held.raw_message_id)
            if raw is None:
                raise LookupError(f"held inquiry {inquiry_id} has no stored message")
            parsed = self.parse_raw(raw)
            if text:
                parsed.inquiries = [
                    ParsedInquiry(item, categorize(item), is_urgent(parsed.subject, item))
                    for item in split_inquiries(text) or [text]
                ]
            merged = {**held.fields, **{k: v for k, v in fields.items() if v}}
            held.fields = merged
            self._registry = registry_loaded(session)
            try:
                with session.begin_nested(), session.no_autoflush:
                    self._inquiry(
                        session,
                        raw,
                        parsed,
                        held.profile,
                        now,
                        channel=held.channel,
                        fields=merged,
                        reply_to=[]
                        if held.channel == "fax"
                        else ([held.sender] if held.sender else None),
                        inquiry=held,
                    )
            except Held as still:
                raise LookupError(f"still not accepted: {still.reason}") from None
            raw.state = RawState.PROCESSED
            raw.last_error = None
            session.flush()
            return sorted(
                session.scalars(select(Incident.id).where(Incident.inquiry_id == held.id))
            )

    def _fax(
        self, session: Session, raw: RawMessage, parsed: ParsedMessage, profile: str, now: datetime
    ) -> str | None:
        """R11: the fax image's text gives the fields; the answer goes by email to the customer's
        registered contact (R10). Without OCR, or with fields missing, staff transcribe it."""
        reading = (
            self.read_fax(read_raw(self.spool, raw.data, raw.spool), parsed.from_address)
            if self.read_fax
            else FaxReading(None, None)
        )
        layout = analyse_layout(reading.text or "")
        fields = extract_fields(layout)
        values: dict[str, str | None] = {
            "company": fields.company,
            "name": fields.name,
            "domain": fields.domain,
            "customer_number": fields.customer_number,
            "fax_number": reading.fax_number,
        }
        if reading.text is None or fields.missing():
            self._hold(
                session,
                raw,
                parsed,
                profile,
                now,
                "fax",
                values,
                fields.missing(),
                [],
                [],
                reason="needs_transcription",
            )
        if reading.text:  # the fax page is the inquiry, not the gateway's covering mail
            parsed.inquiries = [
                ParsedInquiry(text, categorize(text), is_urgent(parsed.subject, text))
                for text in split_inquiries(layout.new_text) or [reading.text]
            ]
        return self._inquiry(
            session, raw, parsed, profile, now, channel="fax", fields=values, reply_to=[]
        )

    def _audit(
        self, session: Session, action: str, raw: RawMessage, now: datetime, detail: dict
    ) -> None:
        session.add(
            AuditEntry(
                at=now, actor="uketsuke", action=action, target=f"raw:{raw.id}", detail=detail
            )
        )
