"""The web form's door (R1–R3, R7, R8): a submission stored as a message, accepted like mail.

The form (``intake.web``) stores each submission first, as a MIME message of channel ``web``
whose ``uketsuke-form.json`` part holds what the customer typed; this step turns it into the
same :class:`~intake.submission.Intake` every door gives ``accept``. Each item the customer
entered is one incident (R3: the form already separates them); the customer's category is kept,
and the rules' suggestion is used where the customer chose その他 (R5).
"""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from typing import Any

from intake.accept import accept
from intake.fieldnames import stated_fields
from intake.mail.classify import categorize, has_japanese, is_urgent
from intake.outcomes import Processed
from intake.spool import read_raw
from intake.steps.context import Context
from intake.submission import Intake, Item

FORM_PART = "uketsuke-form.json"
WEB = "web"


def read_form(data: bytes) -> dict[str, Any]:
    """The submission's JSON part (the door wrote it; nothing else has the ``web`` channel)."""
    message = message_from_bytes(data, policy=policy.default)
    for part in message.walk():
        if part.get_filename() == FORM_PART:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return json.loads(payload.decode("utf-8"))
    raise ValueError("web submission without its form part")


def items_of(form: dict[str, Any]) -> list[Item]:
    chosen = form.get("category") or "other"
    subject = form.get("subject") or ""
    items = []
    for text in form.get("items") or []:
        suggested = categorize(text)
        category = suggested if chosen == "other" or suggested == "out_of_scope" else chosen
        items.append(Item(text, category, bool(form.get("urgent")) or is_urgent(subject, text)))
    return items


def web(ctx: Context) -> None:
    if ctx.raw.channel != WEB:
        return
    form = read_form(read_raw(ctx.spool, ctx.raw.data, ctx.raw.spool))
    items = items_of(form)
    text = "\n".join([form.get("subject") or "", *(i.text for i in items)])
    intake = Intake(
        channel=WEB,
        profile=ctx.profile,
        fields=stated_fields(form["fields"]),
        items=items,
        subject=form.get("subject") or (items[0].text.splitlines()[0][:80] if items else ""),
        received_at=ctx.raw.received_at,
        sender=form.get("email"),
        raw_message_id=ctx.raw.id,
        message_id=ctx.message.message_id,
        language="ja" if has_japanese(text) else "other",
        attachments=[a for a in ctx.message.attachments if a.filename != FORM_PART],
    )
    created = accept(ctx.session, ctx.config, intake, ctx.now, registry=ctx.registry)
    raise Processed(f"web form: {len(created)} incident(s)")
