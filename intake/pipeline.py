"""The runner of commit #2: stored messages through the pipeline's steps (docs/architecture.md,
"The flow of one message").

The runner owns the loop, the transactions and the outcomes (GNU Mailman's ``core/runner.py``):
batches in one transaction, a SAVEPOINT per message once one has failed, giving way to a waiting
door, and each message's outcome recorded on its row. The steps (``intake.steps``) hold the
rules, and every inquiry ends in ``intake.accept.accept`` whatever its door. A crash before the
commit leaves the message ``received``; it is processed again after a restart. A bug leaves it
``unprocessable``, visible to staff, for ``uketsuke reprocess`` after a fix (R29).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from pathlib import Path

from sqlalchemy import ColumnElement, bindparam, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, lazyload, sessionmaker

from intake.accept import accept
from intake.channels.fax import FaxReading
from intake.config import Config
from intake.fastsql import Prebuilt
from intake.identify import registry_loaded
from intake.mail.classify import categorize, is_urgent
from intake.mail.context import ParseContext, parse_context
from intake.mail.parse import ParsedMessage, parse_message
from intake.mail.split import split_inquiries
from intake.models import Incident, Inquiry, RawMessage, RawState
from intake.outcomes import Deferred, Held, Outcome
from intake.spool import open_raw, read_raw, spool_dir
from intake.steps import STEPS, Context, Step
from intake.steps.context import DnsLookup, FaxReader
from intake.steps.fax import fax_intake
from intake.steps.inquiry import intake_from_mail
from intake.steps.staff import staff_addresses
from intake.submission import Item
from intake.writebehind import write_behind

log = logging.getLogger("uketsuke.pipeline")

# Messages a batch: each batch counts their attempts (one commit), reads the staff and the
# registry, and commits its outcome once, rewriting the same index and table pages; 100 against
# 50 drained a stored backlog 4-7 % faster (docs/benchmarks.md, "Batches of 100"). A door never
# waits for a whole batch (Processor.should_yield).
BATCH = 100
_FINISH_RAW = Prebuilt(
    update(RawMessage.__table__)
    .where(RawMessage.__table__.c.id == bindparam("raw_id"))
    .values(  # the attempt itself was counted before the batch (intake.attempts)
        state=bindparam("new_state"),
        last_error=bindparam("error"),
        processed_at=bindparam("at"),
    )
)
_DEFER_RAW = Prebuilt(
    update(RawMessage.__table__)
    .where(RawMessage.__table__.c.id == bindparam("raw_id"))
    .values(not_before=bindparam("until"), attempts=0)  # waiting is not failing
)


def due(now: datetime) -> ColumnElement[bool]:
    """Received messages that may be processed now (a deferred reply waits, R19)."""
    return (RawMessage.state == RawState.RECEIVED) & or_(
        RawMessage.not_before.is_(None), RawMessage.not_before <= now
    )


@dataclass
class _Batch:
    raw_ids: list[int]
    now: datetime
    again: bool
    parsed: dict[int, ParsedMessage]
    should_yield: Callable[[], bool] | None


class _Isolate(Exception):
    """A message of a batch run without SAVEPOINTs failed: run the batch again with them."""


@dataclass
class Pipeline:
    config: Config
    sessions: sessionmaker[Session]
    read_fax: FaxReader | None = None
    # DKIM key look-up for staff answers (R21): None is DNS; tests give their own keys.
    dkim_dns: DnsLookup | None = None
    steps: tuple[Step, ...] = STEPS
    _registry: bool | None = None
    _staff: frozenset[str] = frozenset()

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
            self._staff = staff_addresses(session)  # one look-up a batch (R21)
            query = select(RawMessage).where(RawMessage.id.in_(batch.raw_ids))
            if not batch.again:
                query = query.where(due(batch.now))
            if batch.parsed:  # parsed elsewhere: the bytes are loaded only if a step needs them
                query = query.options(lazyload(RawMessage.raw_bytes))
            raws = session.scalars(
                query.order_by(RawMessage.id).with_for_update(skip_locked=True)
            ).all()
            # PostgreSQL: statements whose result nobody reads are sent without waiting
            # (intake.writebehind); only without SAVEPOINTs, where any error runs the batch
            # again with them.
            with contextlib.nullcontext() if isolate else _behind(session):
                for position, raw in enumerate(raws):
                    if left or (
                        position  # at least one message a turn
                        and batch.should_yield
                        and batch.should_yield()  # intake first (intake.intakefirst.Turns)
                    ):
                        left.append(raw.id)  # someone waits for the write turn: commit now
                        continue
                    states[raw.id] = self._process_one(self._context(session, raw, batch), isolate)
        for raw_id, state in states.items():
            if state != RawState.RECEIVED:  # a deferred reply said so once, when it first waited
                log.info("raw %s → %s", raw_id, state)
        return states, left

    def _context(self, session: Session, raw: RawMessage, batch: _Batch) -> Context:
        return Context(
            config=self.config,
            session=session,
            raw=raw,
            now=batch.now,
            profile=self.profile_of(raw, batch.again),
            parse=self.parse_raw,
            spool=self.spool,
            registry=self._registry,
            staff=self._staff,
            read_fax=self.read_fax,
            parsed=batch.parsed.get(raw.id),
            dkim_dns=self.dkim_dns,
        )

    def profile_of(self, raw: RawMessage, again: bool) -> str:
        """The message's profile. Run again (``reprocess``), it is read from today's
        configuration — the door's mailbox or recipient — so a fixed file takes effect."""
        profiles = self.config.profiles
        if not again and raw.profile in profiles:
            return raw.profile
        found = profile_for_source(self.config, raw.source_key, raw.envelope_to)
        profile = found or (raw.profile if raw.profile in profiles else None)
        profile = profile or self.config.default_profile
        raw.profile = profile
        return profile

    def _process_one(self, ctx: Context, isolate: bool) -> str:
        session, raw = ctx.session, ctx.raw
        state: str
        reason: str | None
        try:
            # Autoflush off: the steps flush where they need ids; each look-up no longer
            # flushes first.
            with (
                session.begin_nested() if isolate else contextlib.nullcontext(),
                session.no_autoflush,
            ):
                try:
                    run_steps(self.steps, ctx)
                    raise Held("no step took the message")
                except Deferred as wait:  # R19: processed again later, nothing else changes
                    if raw.not_before is None:
                        log.info("raw %s waits for the message it answers", raw.id)
                    _DEFER_RAW.run(session.connection(), {"raw_id": raw.id, "until": wait.until})
                    return RawState.RECEIVED
                except Outcome as outcome:  # its rows are kept
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
        _FINISH_RAW.run(
            session.connection(),
            {
                "raw_id": raw.id,
                "new_state": state,
                "error": reason if state != RawState.PROCESSED else None,
                "at": ctx.now,
            },
        )
        return state

    def transcribe(
        self, inquiry_id: int, fields: dict[str, str], text: str | None, now: datetime
    ) -> list[int]:
        """R11: staff key in what OCR could not read; the held inquiry goes through the same
        accept as any inquiry (R2) and its incidents are created. Returns their numbers."""
        with self.sessions.begin() as session:
            held = session.get(Inquiry, inquiry_id, with_for_update=True)
            if held is None or held.state != "held":
                raise LookupError(f"no held inquiry {inquiry_id}")
            raw = session.get(RawMessage, held.raw_message_id)
            if raw is None:
                raise LookupError(f"held inquiry {inquiry_id} has no stored message")
            parsed = self.parse_raw(raw)
            intake = intake_from_mail(raw, parsed, held.profile)
            fax = held.channel == "fax"
            if fax:  # the fax page is the inquiry (R11): read again, or as staff typed it
                reading = FaxReading(text, held.fields.get("fax_number"))
                if not text and self.read_fax is not None:
                    reading = self.read_fax(read_raw(self.spool, raw.data, raw.spool), None)
                intake = fax_intake(intake, reading)
            elif text:
                intake.items = [
                    Item(item, categorize(item), is_urgent(parsed.subject, item))
                    for item in split_inquiries(text) or [text]
                ]
            intake = replace(
                intake,
                channel=held.channel,
                fields={**held.fields, **{k: v for k, v in fields.items() if v}},
                reply_to=[] if fax else ([held.sender] if held.sender else None),
                ask_for_fields=not fax,
                held=held,
            )
            try:
                with session.begin_nested(), session.no_autoflush:
                    accept(session, self.config, intake, now)
            except Held as still:
                raise LookupError(f"still not accepted: {still.reason}") from None
            raw.state = RawState.PROCESSED
            raw.last_error = None
            session.flush()
            return sorted(
                session.scalars(select(Incident.id).where(Incident.inquiry_id == held.id))
            )


def profile_for_source(config: Config, source_key: str | None, recipients: list[str]) -> str | None:
    """The profile today's configuration gives a stored message: its IMAP table's, or its SMTP
    recipient's (R7: every mailbox and recipient belongs to one profile)."""
    if source_key and source_key.startswith("imap:"):
        name = source_key.split(":")[1]
        for mailbox in config.imap:
            if mailbox.name == name:
                return mailbox.profile or config.default_profile
    for address in recipients:
        if (found := config.profile_for_address(address)) is not None:
            return found
    return None


@contextlib.contextmanager
def _behind(session: Session) -> Iterator[None]:
    """A write-behind scope whose late errors (a queued statement's, raised when the queue is
    settled at the end) run the batch again isolated, as an error in a message does."""
    try:
        with write_behind(session.connection()):
            yield
    except DBAPIError as exc:
        raise _Isolate from exc


def run_steps(steps: tuple[Step, ...], ctx: Context) -> None:
    """Each step in order until one raises the message's outcome."""
    for step in steps:
        step(ctx)
