"""Canned answers (定型文): stored texts with placeholders, filled in for one incident.

A canned answer belongs to one profile or, with no profile, to every profile. Its placeholders
are the names of :data:`PLACEHOLDERS` in braces (``{会社名}``); any other name in braces is
refused when the text is added (:func:`unknown_placeholders`). A staff answer names canned
answers with ``#canned NAME`` (mail, ``incidents reply``, the dashboard): :func:`fill_canned`
puts their filled text above the staff member's own words, before anything is done.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from intake.config import Config
from intake.incidenttag import incident_tag
from intake.labels import ja_day, ja_short_time
from intake.models import CannedAnswer, Incident, StaffUser
from intake.staffcommands import CommandError, StaffAnswer
from scheduler.calendar import to_tokyo

PLACEHOLDERS = ("会社名", "氏名", "顧客番号", "番号", "担当者", "受付日時", "次営業日")
MAX_NAME = 128  # the column's width
_PLACEHOLDER = re.compile(r"\{([^{}\n]*)\}")


def canned_name(text: str) -> str:
    """A canned answer's name as stored and looked up: NFKC, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def placeholders_in(body: str) -> list[str]:
    """The names in braces in ``body``, each once, in order of first use."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(body)))


def unknown_placeholders(body: str) -> list[str]:
    return [name for name in placeholders_in(body) if name not in PLACEHOLDERS]




def values_for(
    config: Config, incident: Incident, staff: StaffUser, now: datetime
) -> dict[str, str]:
    """Each placeholder's text for this incident, answered by ``staff`` at ``now``: the
    registry's company and number when the customer is identified, else what was stated."""
    terms = config.profile(incident.profile)
    fields = incident.fields or {}
    customer = incident.customer
    return {
        "会社名": (customer.company if customer else None) or fields.get("company") or "",
        "氏名": fields.get("name") or "",
        "顧客番号": (customer.number if customer else None) or fields.get("customer_number") or "",
        "番号": incident_tag(incident.id, terms.tag_prefix),
        "担当者": staff.name,
        "受付日時": ja_short_time(incident.created_at),
        "次営業日": ja_day(terms.calendar().next_business_day(to_tokyo(now).date())),
    }


def fill(body: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), body)


def find_canned(session: Session, name: str, profile: str) -> CannedAnswer | None:
    """The profile's canned answer of that name, else the every-profile one."""
    rows = session.scalars(
        select(CannedAnswer).where(
            CannedAnswer.name == canned_name(name),
            or_(CannedAnswer.profile == profile, CannedAnswer.profile.is_(None)),
        )
    ).all()
    return min(rows, key=lambda row: row.profile is None, default=None)


def usable_canned(session: Session, profile: str) -> list[CannedAnswer]:
    """The canned answers an incident of ``profile`` can use, by name (the profile's own
    shadowing an every-profile one of the same name)."""
    rows = session.scalars(
        select(CannedAnswer).where(
            or_(CannedAnswer.profile == profile, CannedAnswer.profile.is_(None))
        )
    ).all()
    chosen: dict[str, CannedAnswer] = {}
    for row in rows:
        if row.name not in chosen or chosen[row.name].profile is None:
            chosen[row.name] = row
    return sorted(chosen.values(), key=lambda row: row.name)


def fill_canned(
    session: Session,
    config: Config,
    incident: Incident,
    staff: StaffUser,
    answer: StaffAnswer,
    now: datetime,
) -> None:
    """Put the filled text of each ``#canned NAME`` above the staff member's own words;
    CommandError (nothing done) for a name the incident's profile has no canned answer of."""
    if not answer.canned:
        return
    texts = []
    for name in answer.canned:
        found = find_canned(session, name, incident.profile)
        if found is None:
            raise CommandError(
                f"#canned {name}: no such canned answer (see uketsuke canned list)",
                f"定型文「{name}」はありません（uketsuke canned list で確認できます）",
            )
        texts.append(fill(found.body, values_for(config, incident, staff, now)).strip("\n"))
    answer.text = "\n\n".join([*texts, answer.text] if answer.text else texts)
