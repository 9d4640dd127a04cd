"""``GET /metrics`` (issue 15): off unless ``[web] metrics``; with a token only for a Bearer
header; the names an operator's dashboards depend on, read from the database when scraped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from intake.config import load_config
from intake.models import MailboxState, OutboxMail, RawMessage
from intake.pipeline import Pipeline
from intake.states import RawState
from intake.store import store_raw
from intake.web import create_app
from tests.mailmaker import FIELDS_BLOCK, make_mail

NOW = datetime.now(UTC)
NAMES = {
    "uketsuke_messages_received_total",
    "uketsuke_messages_processed_total",
    "uketsuke_raw_waiting",
    "uketsuke_oldest_waiting_seconds",
    "uketsuke_incidents_created_total",
    "uketsuke_outbox_pending",
    "uketsuke_outbox_oldest_due_seconds",
    "uketsuke_outbox_failures_total",
    "uketsuke_imap_last_success_timestamp_seconds",
    "uketsuke_processor_restarts_total",
    "uketsuke_timers_overdue",
}


def app(sessions, tmp_path, **web: object):  # noqa: ANN001, ANN201
    config = load_config(None, env={"UKETSUKE_HOME": str(tmp_path)})
    config = config.__class__(**{**config.__dict__, "web": config.web.__class__(
        **{**config.web.__dict__, **web}
    )})  # fmt: skip
    return create_app(config, sessions, restarts=lambda: 2).test_client()


def samples(body: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_are_off_by_default(sessions, tmp_path) -> None:
    assert app(sessions, tmp_path).get("/metrics").status_code == 404


def test_metrics_with_a_token_need_the_bearer(sessions, tmp_path) -> None:
    client = app(sessions, tmp_path, metrics=True, metrics_token="s3cret")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.content_type.startswith("text/plain")


def test_metrics_report_what_the_database_holds(sessions, tmp_path) -> None:
    config = load_config(None, env={})
    pipeline = Pipeline(config, sessions)
    done = store_raw(sessions, make_mail(FIELDS_BLOCK + "\n印刷できません。\n"), channel="smtp",
                     profile="helpdesk")  # fmt: skip
    assert pipeline.process(done.id, NOW) == RawState.PROCESSED
    waiting = store_raw(sessions, make_mail("ログインできません。\n"), channel="imap",
                        profile="helpdesk")  # fmt: skip
    with sessions.begin() as session:
        session.execute(
            update(RawMessage)
            .where(RawMessage.id == waiting.id)
            .values(received_at=NOW - timedelta(minutes=5))
        )
        three_minutes_ago = NOW - timedelta(minutes=3)
        session.execute(
            update(OutboxMail).values(
                due_at=three_minutes_ago, created_at=three_minutes_ago, attempts=2
            )
        )
        session.add(MailboxState(name="inbox", last_uid=0, last_success_at=NOW))
    body = app(sessions, tmp_path, metrics=True).get("/metrics").get_data(as_text=True)
    found = samples(body)
    assert {name for name, _ in found} >= NAMES
    assert found[("uketsuke_messages_received_total", (("door", "smtp"),))] == 1
    assert found[("uketsuke_messages_received_total", (("door", "imap"),))] == 1
    assert found[("uketsuke_messages_received_total", (("door", "fax"),))] == 0
    assert found[("uketsuke_messages_processed_total", (("outcome", "incident"),))] == 1
    assert found[("uketsuke_raw_waiting", ())] == 1
    assert found[("uketsuke_oldest_waiting_seconds", ())] >= 300
    assert found[("uketsuke_incidents_created_total", (("channel", "smtp"), ("profile", "helpdesk")))] == 1  # noqa: E501
    assert found[("uketsuke_outbox_pending", (("kind", "ack"),))] == 1
    assert found[("uketsuke_outbox_oldest_due_seconds", ())] >= 180
    assert found[("uketsuke_outbox_failures_total", ())] == 2
    assert found[("uketsuke_imap_last_success_timestamp_seconds", (("mailbox", "inbox"),))] == (
        pytest.approx(NOW.timestamp(), abs=1)
    )
    assert found[("uketsuke_processor_restarts_total", ())] == 2
    assert found[("uketsuke_timers_overdue", ())] == 0
