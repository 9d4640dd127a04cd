"""``GET /healthz``: 200 ``ok`` when the database answers and the daemon's processor is alive and
beating; 503 with one line naming the part otherwise (for load balancers and monitors), e.g.
``processor: no heartbeat for 42 s`` (docs/architecture.md, "Supervision")."""

from __future__ import annotations

from flask import Blueprint
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
