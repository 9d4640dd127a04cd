"""The answer form's canned answers and files on the incident page (R20, R26, R30).

挿入 (a submit button, no JavaScript) posts the answer form here: the page comes back with the
chosen canned answer filled in for the incident, above what was typed (below the command lines
at its top), everything typed kept; nothing is saved or sent. Files given with a dashboard
answer or note are kept in ``answer_files`` (``intake.answerfiles``): listed on the thread and
downloaded here like a customer's attachments (``application/octet-stream``, ``nosniff``).
"""

from __future__ import annotations

from typing import Any

from flask import abort, request

from intake.canned import fill, find_canned, values_for
from intake.models import AnswerFile, Incident, IncidentMessage, StaffUser
from intake.web.context import web_context
from intake.web.staff_common import audit_view, check_profile, member, now, reading
from intake.web.staff_files import neutral_name, send_download
from intake.web.staff_incidents import render_incident


def put_above(typed: str, filled: str) -> str:
    """``filled`` above the words of ``typed``, below the command lines at its top."""
    lines = typed.replace("\r\n", "\n").split("\n")
    start = 0
    while start < len(lines) and lines[start].strip().startswith(("#", "＃")):
        start += 1
    rest = "\n".join(lines[start:]).strip("\n")
    return "\n".join([*lines[:start], filled.strip("\n"), *(["", rest] if rest else [])])


def insert(number: int) -> Any:
    typed = (request.form.get("text") or "").replace("\r\n", "\n")
    name = request.form.get("canned", "")
    # the desk: the form keeps the version it was opened with (intake.web.staff_desk)
    kept = {k: request.form[k] for k in ("version", "opened") if k in request.form}
    with reading() as session:
        incident = session.get(Incident, number)
        if incident is None:
            abort(404)
        check_profile(incident.profile)
        staff = session.get(StaffUser, member().id)
        found = find_canned(session, name, incident.profile) if name else None
        if staff is None or found is None:
            return render_incident(
                number,
                error="挿入する定型文を選んでください。",
                typed={"text": typed, "_action": "answer", **kept},
                status=400,
            )
        config = web_context().config
        filled = fill(found.body, values_for(config, incident, staff, now()))
    filled_in = {"text": put_above(typed, filled), "_action": "answer", **kept}
    return render_incident(number, typed=filled_in)


def download(file_id: int) -> Any:
    with reading() as session:
        found = session.get(AnswerFile, file_id)
        message = session.get(IncidentMessage, found.message_id) if found else None
        incident = session.get(Incident, message.incident_id) if message else None
    if found is None or incident is None:
        abort(404)
    check_profile(incident.profile)
    audit_view("download_answer_file", f"incident:{incident.id}", file=file_id)
    return send_download(found.data, neutral_name(found.filename) or f"file-{file_id}")
