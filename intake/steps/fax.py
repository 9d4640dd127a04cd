"""A fax-to-mail gateway's message (R11): the fax page is the inquiry, not the covering mail."""

from __future__ import annotations

from dataclasses import replace

from intake.accept import accept
from intake.channels.fax import FaxReading
from intake.mail.classify import categorize, has_japanese, is_urgent
from intake.mail.fields import extract_fields
from intake.mail.layout import analyse_layout
from intake.mail.split import split_inquiries
from intake.outcomes import Processed
from intake.spool import read_raw
from intake.steps.context import Context
from intake.steps.inquiry import intake_from_mail
from intake.submission import Intake, Item


def fax_intake(intake: Intake, reading: FaxReading) -> Intake:
    """The gateway's mail as a fax inquiry: fields, items and language from the fax's own text
    (R11, R6); answered by email at the registered contact (R10); held for staff to key in
    what OCR could not read, nobody asked."""
    text = reading.text or ""
    layout = analyse_layout(text)
    fields = extract_fields(layout)
    items = intake.items
    if text:
        items = [
            Item(part, categorize(part), is_urgent(intake.subject, part))
            for part in split_inquiries(layout.new_text) or [text]
        ]
    return replace(
        intake,
        channel="fax",
        fields={
            "company": fields.company,
            "name": fields.name,
            "domain": fields.domain,
            "customer_number": fields.customer_number,
            "fax_number": reading.fax_number,
        },
        items=items,
        reply_to=[],
        language="ja" if not text or has_japanese(text) else "other",
        ask_for_fields=False,
        hold_reason="needs_transcription",
    )


def fax(ctx: Context) -> None:
    if ctx.message.kind != "fax":
        return
    raw = ctx.raw
    reading = (
        ctx.read_fax(read_raw(ctx.spool, raw.data, raw.spool), ctx.message.from_address)
        if ctx.read_fax
        else FaxReading(None, None)
    )
    intake = fax_intake(intake_from_mail(raw, ctx.message, ctx.profile), reading)
    created = accept(ctx.session, ctx.config, intake, ctx.now, registry=ctx.registry)
    raise Processed(f"{len(created)} incident(s)")
