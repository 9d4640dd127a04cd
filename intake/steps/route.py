"""The first steps: read the stored message, and set aside what is not an inquiry (R27, R29)."""

from __future__ import annotations

from sqlalchemy import select

from intake.mail.parse import NotAMessage
from intake.models import Incident, OutboxMail
from intake.outcomes import Held, Ignored
from intake.states import IncidentFlag
from intake.steps.context import Context


def parse(ctx: Context) -> None:
    """R29: a message that cannot be parsed is held for staff, never dropped."""
    if ctx.parsed is None:
        try:
            ctx.parsed = ctx.parse(ctx.raw)
        except NotAMessage as exc:
            raise Held(str(exc)) from None


def bounce(ctx: Context) -> None:
    """R27: a bounce is tied to the mail it reports, whose incident is flagged."""
    parsed = ctx.message
    if parsed.kind != "bounce":
        return
    reported = (
        parsed.bounce_of
        and ctx.session.scalars(
            select(OutboxMail).where(OutboxMail.message_id == parsed.bounce_of)
        ).one_or_none()
    )
    if reported and reported.incident_id:
        incident = ctx.session.get(Incident, reported.incident_id)
        if incident is not None and IncidentFlag.BOUNCE not in incident.flags:
            incident.flags = [*incident.flags, IncidentFlag.BOUNCE]
            incident.updated_at = ctx.now
    raise Ignored(f"bounce of {f'outbox {reported.id}' if reported else 'unknown mail'}")


def automatic(ctx: Context) -> None:
    """R27: automatic mail is stored and never answered."""
    if ctx.message.kind == "auto_reply":
        raise Ignored(f"automatic mail ({ctx.message.auto_reason})")
