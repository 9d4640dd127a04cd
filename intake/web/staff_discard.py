"""``POST /staff/held/<kind>/<id>/discard``: the held page's 破棄 (held spam thrown away).

The same code as ``uketsuke held discard`` (``intake.heldinquiries.discard``): nothing is sent,
the raw mail stays stored, the inquiry's expiry timer is cancelled, and the action is audited
with the member as actor (R26). Only the member's profiles (R26).
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, url_for

from intake.heldinquiries import CannotDiscard
from intake.heldinquiries import discard as discard_held
from intake.models import Inquiry, RawMessage
from intake.web.context import web_context
from intake.web.staff_common import check_profile, member, now, reading

KEPT = "メールは保存されています"
NAMES = {"inquiry": "問い合わせ", "raw": "メール"}


def discard(kind: str, item_id: int) -> Any:
    with reading() as session:
        found = session.get(Inquiry if kind == "inquiry" else RawMessage, item_id)
        if found is None:
            abort(404)
        check_profile(found.profile)
    name = f"{NAMES[kind]} {item_id}"
    try:
        with web_context().sessions.begin() as session:
            discard_held(session, kind, item_id, member().email, now())
    except CannotDiscard:
        flash(f"{name} は保留中ではないため、破棄できません。", "error")
    else:
        flash(f"{name} を破棄しました（お客様への送信はありません。{KEPT}）。", "done")
    return redirect(url_for("staff.held"), 303)
