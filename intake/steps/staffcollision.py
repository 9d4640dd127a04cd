"""A mailed staff answer that would be a second answer is not relayed (docs/staff.md,
"担当と二重対応防止"): its author gets a ``staff_collision`` mail saying who answered (or took the
incident) when, and that ``#force`` on the first line sends it anyway. Audited."""

from __future__ import annotations

from intake.audit import audit
from intake.collision import collision_since, first_lines, notified_at
from intake.incidenttag import incident_tag
from intake.labels import ja_short_time
from intake.models import Incident, StaffUser
from intake.outcomes import Processed
from intake.staffcommands import StaffAnswer
from intake.states import OutboxKind
from intake.steps.context import Context
from responder.queue import STAFF, queue_mail


def check_collision(
    ctx: Context, member: StaffUser, incident: Incident, answer: StaffAnswer
) -> None:
    """Raise :class:`Processed` (nothing acted on) when someone else answered or took the incident
    since the notification this answer replies to; return when the answer may go."""
    if answer.force or not answer.answers_customer:
        return  # an answer of #canned alone is an answer too (filled in later, by act)
    ids = [i for i in [ctx.message.in_reply_to, *ctx.message.references] if i]
    since = notified_at(ctx.session, incident, member.email, ids)
    found = collision_since(ctx.session, incident, member.email, since) if since else None
    if found is None:
        return
    context = {
        "other_name": found.name,
        "at": ja_short_time(found.at),
        "assigned": found.assigned,
        "other_answer": found.answer,
        "own_answer": first_lines(_own_words(answer)),
    }
    mail_member(ctx, member, incident, OutboxKind.STAFF_COLLISION, context)
    audit(
        ctx.session,
        "staff_collision",
        actor=member.email,
        incident=incident.id,
        at=ctx.now,
        detail={"first": found.by, "assigned": found.assigned, "raw": ctx.raw.id},
    )
    what = "took it" if found.assigned else "answered"
    raise Processed(f"staff answer to #{incident.id} not relayed: {found.by} {what} first")


def _own_words(answer: StaffAnswer) -> str:
    """What the staff member wrote: their #canned lines (not yet filled in), then their text."""
    return "\n".join([*(f"#canned {name}" for name in answer.canned), answer.text]).strip("\n")


def mail_member(
    ctx: Context,
    member: StaffUser,
    incident: Incident,
    kind: OutboxKind,
    context: dict[str, object],
) -> None:
    """Tell the staff member who wrote about their mail (template ``<kind>``, with the tag and
    their name)."""
    tag = incident_tag(incident.id, ctx.config.profile(incident.profile).tag_prefix)
    queue_mail(
        ctx.session,
        ctx.config,
        incident.profile,
        kind=kind,
        to=[member.email],
        now=ctx.now,
        template=str(kind),
        context={"tag": tag, "staff_name": member.name, **context},
        voice=STAFF,
        incident_id=incident.id,
    )
