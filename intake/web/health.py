"""Monitoring on the web port. ``GET /healthz``: 200 ``ok`` when the database answers and the
daemon's processor is alive and beating; 503 with one line naming the part otherwise (for load
balancers), e.g. ``processor: no heartbeat for 42 s`` (docs/architecture.md, "Supervision").
``GET /metrics``: the Prometheus text format (intake.metrics), when ``[web] metrics`` is on, and
with ``[web] metrics_token`` only for ``Authorization: Bearer TOKEN``."""

from __future__ import annotations

import hmac

from flask import Blueprint, abort, request
from sqlalchemy import text

from intake.web.context import web_context

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> tuple[str, int, dict[str, str]]:
    plain = {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
    context = web_context()
    try:
        with context.sessions() as session:
            session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure to reach the database is "unavailable"
        return "database unavailable\n", 503, plain
    if context.liveness is not None and (problem := context.liveness()) is not None:
        return f"{problem}\n", 503, plain
    return "ok\n", 200, plain


@health.get("/metrics")
def metrics() -> tuple[bytes, int, dict[str, str]]:
    context = web_context()
    web = context.config.web
    if not web.metrics:
        abort(404)
    if web.metrics_token:
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {web.metrics_token}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return b"", 401, {"WWW-Authenticate": 'Bearer realm="uketsuke metrics"'}
    from prometheus_client import CONTENT_TYPE_LATEST

    from intake.metrics import exposition

    body = exposition(context.sessions, context.restarts)
    return body, 200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}
