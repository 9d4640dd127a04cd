"""The alarm watch: a thread of the daemon's main process that judges every part and mails
operators (docs/operations.md, "Alarms").

It runs beside the doors, not in the processor process, so a processor that is dead or stopped
(kill -9, SIGSTOP, the OOM killer) is reported too; and it delivers its ``ops_alert`` and
``ops_resolved`` mails straight to the relay, not through the outbox, so a stuck outbox cannot
hold them back. Each delivered mail is also recorded as a sent outbox row (``outbox list --kind
ops_alert``). A mail the relay refuses (the relay may be the stuck part) is tried again at the
next check; the alarm is in the log at ERROR and on the dashboard meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from intake import alarms, health
from intake.config import Config
from intake.models import OutboxMail
from intake.processor_handle import HEALTH_STALE_SECONDS, Liveness
from intake.states import OutboxState
from intake.timeja import span_ja

log = logging.getLogger("uketsuke.alarms")

WAITING = "waiting"
OUTBOX = "outbox"


def check_seconds(config: Config) -> float:
    """How often the parts are judged: a quarter of ``stuck_minutes``, between 1 and 30 s."""
    return min(max(config.alerts.stuck_minutes * 60 / 4, 1.0), 30.0)


def ops_addresses(config: Config) -> list[str]:
    """``[alerts] ops_addresses``, else every profile's on-call addresses."""
    if config.alerts.ops_addresses:
        return list(config.alerts.ops_addresses)
    found: dict[str, None] = {}
    for name in config.profiles:
        found.update(dict.fromkeys(config.profile(name).oncall_addresses))
    return list(found)


class AlarmWatch:
    """Judges the parts every :func:`check_seconds` and keeps ``alarms`` up to date."""

    def __init__(
        self,
        config: Config,
        sessions: sessionmaker[Session],
        instance: str,
        processor: Callable[[], Liveness] | None = None,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.instance = instance
        self.processor = processor
        self.stuck = config.alerts.stuck_minutes * 60
        self.started = datetime.now(UTC)
        self._restarts: int | None = None
        self._transport = None
        self._failing: set[str] = set()  # conditions whose mail the relay refused (logged once)
        self._check_failed = False

    # -- judging ----------------------------------------------------------------------------

    def _stored_parts(self, session: Session, now: datetime) -> dict[str, str | None]:
        """The conditions judged from the database: condition → text while it holds."""
        judge = health.Judge(self.config)
        judged: dict[str, str | None] = {}
        waiting = health.waiting_part(session, judge, now)
        judged[WAITING] = None
        if waiting.level == health.Level.CRITICAL and waiting.age_s is not None:
            span = span_ja(waiting.age_s)
            judged[WAITING] = f"受信したメッセージが{span}処理されずに待っています"
        outbox = health.outbox_part(session, judge, now)
        judged[OUTBOX] = None
        if outbox.age_s is not None and outbox.age_s >= self.stuck:
            judged[OUTBOX] = (
                f"送信予定のメールが{span_ja(outbox.age_s)}送信できていません"
                "（送信用の中継サーバーをご確認ください）"
            )
        for part in health.mailbox_parts(session, self.config, judge, now):
            name = part.part.removeprefix("imap ")
            judged[part.part] = None
            if part.age_s is None and (now - self.started).total_seconds() >= self.stuck:
                since = span_ja((now - self.started).total_seconds())
                judged[part.part] = (
                    f"メールボックス「{name}」を起動から{since}一度も受信できていません"
                )
            elif part.level == health.Level.CRITICAL and part.age_s is not None:
                judged[part.part] = (
                    f"メールボックス「{name}」を{span_ja(part.age_s)}正常に受信できていません"
                )
        return judged

    def _processor_part(self) -> dict[str, str | None]:
        if self.processor is None:
            return {}
        state = self.processor()
        condition = f"processor {self.instance}"
        restarted = self._restarts is not None and state.restarts > self._restarts
        self._restarts = state.restarts
        age = state.heartbeat_age_s
        limit = min(self.stuck, HEALTH_STALE_SECONDS)
        if restarted:
            return {
                condition: "処理プロセスが異常終了したため再起動しました"
                f"（{self.instance}、起動後{state.restarts}回目）"
            }
        if not state.alive:
            return {}  # the supervisor restarts it within a second: judged at the next check
        if age is not None and age >= limit:
            return {condition: f"処理プロセスが{span_ja(age)}応答していません（{self.instance}）"}
        return {condition: None}

    # -- one check --------------------------------------------------------------------------

    def check(self, now: datetime | None = None) -> list[alarms.Due]:
        """Judge every part, record the alarms, deliver the mails due; the mails delivered."""
        now = now or datetime.now(UTC)
        judged = self._processor_part()
        with self.sessions() as session:
            judged.update(self._stored_parts(session, now))
        active = {condition: text for condition, text in judged.items() if text is not None}
        try:
            with self.sessions.begin() as session:
                due = alarms.update(session, judged, active, now)
        except IntegrityError:
            return []  # another instance recorded the same new condition: next check
        return [mail for mail in due if self._send(mail, now)]

    def _send(self, due: alarms.Due, now: datetime) -> bool:
        try:
            recipients, message_id, data = self._compose(due, now)
            if recipients:
                self._transport_().deliver(message_id, self._sender(), recipients, data)
        except Exception as exc:  # noqa: BLE001 - the relay may be the stuck part: retried
            if due.condition not in self._failing:
                self._failing.add(due.condition)
                log.error(
                    "could not deliver the %s mail for %s (%s); trying again at each check",
                    due.kind,
                    due.condition,
                    type(exc).__name__,
                )
            with self.sessions.begin() as session:
                alarms.undelivered(session, due)
            return False
        self._failing.discard(due.condition)
        with self.sessions.begin() as session:
            alarms.delivered(session, due, now)
            if recipients:
                session.add(self._record(due, recipients, message_id, data, now))
        if not recipients:
            log.error("no ops_addresses and no on-call addresses: %s mail not sent", due.kind)
        return bool(recipients)

    # -- the mail ---------------------------------------------------------------------------

    def _sender(self) -> str:
        return self.config.profile(self.config.default_profile).support_address

    def _transport_(self):  # noqa: ANN202 - responder.transports.Transport, imported late
        if self._transport is None:
            from responder.transports import make_transport

            self._transport = make_transport(self.config.outbox, self.config.outbox_maildir)
        return self._transport

    def _compose(self, due: alarms.Due, now: datetime) -> tuple[list[str], str, bytes]:
        # The responder loads here only when there is an alarm to mail: the idle daemon's main
        # process stays small (bench/idle_rss.py).
        from intake.labels import ja_time
        from responder.compose import new_message_id
        from responder.queue import STAFF, mail_bytes
        from scheduler.calendar import to_tokyo

        recipients = ops_addresses(self.config)
        today = to_tokyo(now).date()
        message_id = new_message_id(self._sender())
        data = mail_bytes(
            self.config,
            self.config.default_profile,
            to=recipients,
            message_id=message_id,
            date=now,
            voice=STAFF,
            kind=due.kind,
            template=due.kind,
            context={
                "text": due.text,
                "condition": due.condition,
                "started": ja_time(due.started_at, today),  # 11月24日（火）10:30
                "now": ja_time(now, today),
                "lasted": span_ja((now - due.started_at).total_seconds()),
                "instance": self.instance,
                "stuck": span_ja(self.stuck),
            },
        )
        return recipients, message_id, data

    def _record(
        self, due: alarms.Due, recipients: list[str], message_id: str, data: bytes, now: datetime
    ) -> OutboxMail:
        return OutboxMail(
            kind=due.kind,
            profile=self.config.default_profile,
            message_id=message_id,
            recipients=recipients,
            automatic=False,
            data=data,
            state=OutboxState.SENT,
            due_at=now,
            created_at=now,
            sent_at=now,
            attempts=1,
            late=False,
        )

    # -- the thread -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Check until ``stop`` is set; a failed check (the database away) is logged once and
        tried again."""
        interval = check_seconds(self.config)
        while not stop.wait(interval):
            try:
                self.check()
            except Exception as exc:  # noqa: BLE001 - the watch must outlive any one failure
                if not self._check_failed:
                    log.error("alarm check failed (%s); trying again", type(exc).__name__)
                self._check_failed = True
            else:
                self._check_failed = False


def start(
    config: Config,
    sessions: sessionmaker[Session],
    instance: str,
    processor: Callable[[], Liveness],
    stop: threading.Event,
) -> threading.Thread:
    watch = AlarmWatch(config, sessions, instance, processor)
    thread = threading.Thread(target=watch.run, args=(stop,), name="alarm-watch", daemon=True)
    thread.start()
    return thread
