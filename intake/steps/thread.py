"""Replies: follow-ups join their incident (R19), answers complete held inquiries (R2).

A reply whose In-Reply-To/References name a message not processed yet — stored and waiting, or
not yet arrived — waits a short while for it (``intake.reply_wait_seconds``), so that arrival
order never decides threading. A tag alone from a stranger is held for staff (R19).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import bindparam, select

from intake import incidents as inc
from intake.accept import accept
from intake.incidenttag import incident_tag
from intake.models import Incident, Inquiry, OutboxMail, RawMessage, RawState
from intake.outcomes import Deferred, Held, Processed
from intake.states import IncidentFlag, IncidentState
from intake.steps.context import Context
from intake.steps.inquiry import intake_from_mail
from intake.targets import followed_up
from responder.staffnotify import notify_staff

# A waiting reply is looked at again this soon: the mail it answers is usually milliseconds
# behind it (concurrent SMTP clients); the processor wakes for it (Processor.idle_wait).
RECHECK_SECONDS = 0.2
_HELD_BY_REQUEST = (
    select(Inquiry)
    .where(
        Inquiry.state == "held",
        Inquiry.request_message_id.in_(bindparam("ids", expanding=True)),
    )
    .order_by(Inquiry.id)
    .limit(1)
)
_OURS = select(OutboxMail.message_id).where(
    OutboxMail.message_id.in_(bindparam("ids", expanding=True))
)
_SETTLED = select(RawMessage.message_id).where(
    RawMessage.message_id.in_(bindparam("ids", expanding=True)),
    RawMessage.state != RawState.RECEIVED,
)


def thread_ids(ctx: Context) -> list[str]:
    parsed = ctx.message
    return [i for i in [parsed.in_reply_to, *parsed.references] if i]


def follow_up(ctx: Context) -> None:
    if ctx.message.kind != "reply":
        return
    ids = thread_ids(ctx)
    held = ctx.session.scalars(_HELD_BY_REQUEST, {"ids": ids}).one_or_none() if ids else None
    if held is not None:
        _complete(ctx, held)
    matches = inc.find_by_thread(ctx.session, ids)
    if not matches:
        _wait_for_thread(ctx, ids)
    if not matches and ctx.message.ticket_ref is not None:
        tagged = _tagged(ctx, ctx.message.ticket_ref)
        matches = [tagged] if tagged is not None else []
    if not matches:
        return  # nothing of ours: a new inquiry
    matches = list({i.id: i for i in (_merged_into(ctx, i) for i in matches)}.values())
    for incident in matches:
        if incident.state == IncidentState.CLOSED:
            _reopen(ctx, incident)
        else:
            _join(ctx, incident)
    raise Processed(f"follow-up of {', '.join(f'#{i.id}' for i in matches)}")


def _merged_into(ctx: Context, incident: Incident) -> Incident:
    """A reply to an incident staff merged into another joins that one (R3: merged in the
    dashboard; the merged incident is closed and counts no more)."""
    seen = {incident.id}
    merged = IncidentFlag.MERGED
    while merged in incident.flags and incident.linked_incident_id not in (None, *seen):
        target = ctx.session.get(Incident, incident.linked_incident_id)
        if target is None:
            break
        seen.add(target.id)
        incident = target
    return incident


def _wait_for_thread(ctx: Context, ids: list[str]) -> None:
    """Defer while a named message may still be on its way (R19)."""
    wait = ctx.reply_wait
    until = ctx.raw.received_at + wait
    if not ids or not wait or ctx.now >= until:
        return
    settled = set(ctx.session.scalars(_SETTLED, {"ids": ids}))
    settled |= set(ctx.session.scalars(_OURS, {"ids": ids}))  # our own mail: never on its way
    if all(i in settled for i in ids):
        return  # every named message was processed, and none is ours
    again = ctx.now + timedelta(seconds=RECHECK_SECONDS)
    raise Deferred("waits for the message it answers", min(until, again))


def _tagged(ctx: Context, number: int) -> Incident | None:
    tagged = ctx.session.get(Incident, number)
    if tagged is None:
        return None
    sender = (ctx.message.from_address or "").lower()
    if sender not in inc.participants(ctx.session, tagged):
        raise Held(f"tag {incident_tag(tagged.id)} from a sender who is not a participant")
    return tagged


def _join(ctx: Context, incident: Incident) -> None:
    """R19: the follow-up joins; R18: the auto-close clock stops; R20: staff are told."""
    inc.join(
        ctx.session,
        incident,
        raw_message_id=ctx.raw.id,
        message_id=ctx.message.message_id,
        author=ctx.message.from_address,
        body=ctx.message.body,
        now=ctx.now,
    )
    followed_up(ctx.session, ctx.config, incident, ctx.raw.received_at, ctx.now)
    new_text = "\n\n".join(i.text for i in ctx.message.inquiries).strip()
    text = new_text or ctx.message.body.strip() or ctx.message.subject
    files = ctx.message.attachments
    notify_staff(ctx.session, ctx.config, incident, text=text, now=ctx.now, follow_up=True,
                 attachments=files)  # fmt: skip


def _reopen(ctx: Context, closed: Incident) -> None:
    """R19: a follow-up to a closed incident reopens it inside the window, else it becomes a new
    incident linked to it, of the same customer (accepted through the same accept)."""
    window = timedelta(days=ctx.config.intake.reopen_window_days)
    if window and closed.closed_at and ctx.now - closed.closed_at <= window:
        closed.state = IncidentState.OPEN
        closed.closed_at = None
        _join(ctx, closed)
        return
    intake = intake_from_mail(ctx.raw, ctx.message, closed.profile)
    stated = {k: v for k, v in intake.fields.items() if v}
    intake = replace(
        intake,
        fields={**closed.fields, **stated},
        items=intake.items[:1],
        reply_to=[closed.reply_address or ctx.message.from_address or ""],
        linked_incident_id=closed.id,
        customer=closed.customer,
    )
    accept(ctx.session, ctx.config, intake, ctx.now, registry=ctx.registry)


def _complete(ctx: Context, held: Inquiry) -> None:
    """R2: the customer's answer completes a held inquiry; the original's text becomes the
    incidents, the fields of both count."""
    stated = {k: v for k, v in ctx.message.fields.items() if v}
    original = ctx.session.get(RawMessage, held.raw_message_id) if held.raw_message_id else None
    source = ctx.parse(original) if original is not None else ctx.message
    intake = replace(
        intake_from_mail(ctx.raw, ctx.message, held.profile),
        channel=held.channel,
        fields={**held.fields, **stated},
        items=intake_from_mail(ctx.raw, source, held.profile).items,
        subject=source.subject,
        reply_to=[held.sender] if held.sender else None,
        language=source.language,
        held=held,
    )
    created = accept(ctx.session, ctx.config, intake, ctx.now, registry=ctx.registry)
    raise Processed(f"held inquiry {held.id} completed: {len(created)} incident(s)")
