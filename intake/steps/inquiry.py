"""The last step: a mail that is none of the above is an inquiry, accepted or held (R1–R3)."""

from __future__ import annotations

from intake.accept import accept
from intake.mail.parse import ParsedMessage
from intake.models import RawMessage
from intake.outcomes import Processed
from intake.steps.context import Context
from intake.submission import Intake, Item


def items_of(parsed: ParsedMessage) -> list[Item]:
    return [Item(i.text, i.category, i.urgent, i.matter) for i in parsed.inquiries]


def intake_from_mail(raw: RawMessage, parsed: ParsedMessage, profile: str) -> Intake:
    """What a door gives accept for a mail: the parsed fields, items and threading ids."""
    return Intake(
        channel=raw.channel,
        profile=profile,
        fields=dict(parsed.fields),
        items=items_of(parsed),
        subject=parsed.subject,
        received_at=raw.received_at,
        sender=parsed.from_address,
        raw_message_id=raw.id,
        message_id=parsed.message_id,
        references=list(parsed.references),
        language=parsed.language,
        attachments=list(parsed.attachments),
    )


def inquiry(ctx: Context) -> None:
    intake = intake_from_mail(ctx.raw, ctx.message, ctx.profile)
    created = accept(ctx.session, ctx.config, intake, ctx.now, registry=ctx.registry)
    raise Processed(f"{len(created)} incident(s)")
