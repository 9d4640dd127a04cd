"""Files in staff answers: a mailed answer's attachments go to the customer with it
(multipart/mixed), refused types are told to staff and nothing is sent, a #note's stay internal.
Through the real pipeline, and through the real daemon and relay."""

from __future__ import annotations

import email
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from functools import partial

from sqlalchemy import select

from intake.answerfiles import attachment_parts, keep_files
from intake.config import load_config
from intake.filelimits import AttachedFile
from intake.mail.mime import filename_of, payload
from intake.models import AnswerFile, Incident, IncidentMessage, RawMessage, RawState
from intake.spool import read_raw, spool_dir
from responder.compose import OutgoingMail, compose
from scheduler.retention import purge_raw_mail
from tests.daemon import Daemon
from tests.test_canned import answer_through, pipeline  # noqa: F401 - fixture
from tests.test_life import desk, sink  # noqa: F401 - fixtures
from tests.test_staff_mail import (
    CUSTOMER,
    OPEN,
    STAFF,
    new_incident,
    outbox,
    parsed,
    receive,
    staff_reply,
)

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def with_file(
    mail: bytes, filename: str, data: bytes, content_type: str = "application/pdf"
) -> bytes:
    """The same mail as a mail client sends it with a file attached: multipart/mixed."""
    original = email.message_from_bytes(mail, policy=policy.default)
    message = EmailMessage()
    for name in ("From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References"):
        if original[name] is not None:
            message[name] = str(original[name])
    message.set_content(original.get_content())  # type: ignore[attr-defined]
    maintype, _, subtype = content_type.partition("/")
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes(policy=policy.SMTP)


def files_of(message: EmailMessage) -> list[tuple[str | None, str, bytes]]:
    return [
        (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
        for part in message.iter_attachments()
    ]


def test_answer_file_pdf_in_a_mailed_answer_goes_to_the_customer(
    pipeline,  # noqa: F811
    sessions,
) -> None:
    number, notify, _ = new_incident(pipeline)
    reply = with_file(staff_reply(notify, "山田様\n\n手順書を添付します。"), "手順書.pdf", PDF)
    state, _ = receive(pipeline, reply, at=OPEN + timedelta(minutes=5))
    assert state == RawState.PROCESSED
    [answer] = outbox(sessions, "answer")
    message = parsed(answer)
    assert message.get_content_type() == "multipart/mixed"
    assert answer.recipients == [CUSTOMER]
    body = message.get_body(("plain",))
    assert body is not None and "手順書を添付します。" in body.get_content()
    assert files_of(message) == [("手順書.pdf", "application/pdf", PDF)]
    with sessions() as session:
        assert session.get(Incident, number).state == "answered"


def test_answer_file_of_a_refused_type_gets_staff_error_and_nothing_is_sent(
    pipeline,  # noqa: F811
    sessions,
) -> None:
    number, notify, _ = new_incident(pipeline)
    reply = with_file(
        staff_reply(notify, "こちらを実行してください。"),
        "setup.exe",
        b"MZ\x90\x00",
        "application/octet-stream",
    )
    assert receive(pipeline, reply)[0] == RawState.PROCESSED
    assert outbox(sessions, "answer") == []
    [error] = outbox(sessions, "staff_error")
    assert error.recipients == [STAFF]
    text = parsed(error).get_content()
    assert "setup.exe" in text and "添付できる形式" in text
    with sessions() as session:
        assert session.get(Incident, number).state == "open"
        assert (
            session.scalars(select(IncidentMessage).where(IncidentMessage.author == STAFF)).all()
            == []
        )


def test_answer_file_without_an_answer_text_is_refused_not_dropped(
    pipeline,  # noqa: F811
    sessions,
) -> None:
    number, notify, _ = new_incident(pipeline)
    assert receive(pipeline, with_file(staff_reply(notify, "#close"), "手順書.pdf", PDF))[0] == (
        RawState.PROCESSED
    )
    assert outbox(sessions, "answer") == [] and outbox(sessions, "closed") == []
    [error] = outbox(sessions, "staff_error")
    assert "添付ファイルだけでは送れません" in parsed(error).get_content()
    with sessions() as session:
        assert session.get(Incident, number).state == "open"


def test_answer_file_of_a_note_stays_internal(
    pipeline,  # noqa: F811
    sessions,
    tmp_path,
) -> None:
    number, notify, _ = new_incident(pipeline)
    reply = with_file(staff_reply(notify, "#note\n社内向けのログです。"), "server.log", b"ERR 42\n")
    assert receive(pipeline, reply)[0] == RawState.PROCESSED
    assert outbox(sessions, "answer") == []
    assert all(CUSTOMER not in row.recipients for row in outbox(sessions)[1:])  # after the ack
    with sessions() as session:
        note = session.scalars(
            select(IncidentMessage).where(IncidentMessage.direction == "note")
        ).one()
        assert note.incident_id == number and note.raw_message_id is not None
        raw = session.get(RawMessage, note.raw_message_id)
        content = read_raw(spool_dir(pipeline.config.home_path), raw.data, raw.spool)
    [part] = attachment_parts(content)  # kept with the stored mail, listed for staff
    assert filename_of(part.headers) == "server.log" and payload(part, []) == b"ERR 42\n"


def test_answer_file_keeps_an_iso2022jp_text_part() -> None:
    mail = OutgoingMail(
        sender="support@example.jp",
        sender_name="サポート",
        to=[CUSTOMER],
        subject="Re: [#3] 印刷できません",
        body="山田様\n\n手順書を添付します。\n",
        message_id="<a@example.jp>",
        date=datetime(2026, 11, 24, 1, 30, tzinfo=UTC),
        charset="iso-2022-jp",
        attachments=[AttachedFile("手順書.pdf", "application/pdf", PDF)],
    )
    data = compose(mail)
    assert data.isascii() and b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    message = email.message_from_bytes(data, policy=policy.default)
    [text] = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    assert text.get_content_charset() == "iso-2022-jp"
    assert text.get_content() == "山田様\r\n\r\n手順書を添付します。\r\n"
    assert str(message["Subject"]) == "Re: [#3] 印刷できません"
    assert files_of(message) == [("手順書.pdf", "application/pdf", PDF)]  # type: ignore[arg-type]


def test_answer_file_pdf_reaches_the_customer_through_the_daemon(
    desk: Daemon,  # noqa: F811
    sink,  # noqa: F811
) -> None:
    capture, _ = sink
    desk.start()
    wrap = partial(with_file, filename="手順書.pdf", data=PDF)
    relayed = answer_through(desk, capture, "山田様\n\n手順書を添付します。\n", wrap)
    assert files_of(relayed) == [("手順書.pdf", "application/pdf", PDF)]
    body = relayed.get_body(("plain",))
    assert body is not None and "手順書を添付します。" in body.get_content()


def test_r26_answer_file_kept_from_the_dashboard_goes_with_the_raw_mail(sessions, tmp_path) -> None:
    base = load_config(None, env={})
    config = replace(base, home=str(tmp_path), intake=replace(base.intake, keep_raw_mail_days=30))
    now = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
    with sessions.begin() as session:
        ids = []
        for closed in (now - timedelta(days=31), now - timedelta(days=29), None):
            incident = Incident(
                profile="helpdesk",
                channel="web",
                state="closed" if closed else "open",
                closed_at=closed,
            )
            session.add(incident)
            session.flush()
            message = IncidentMessage(incident_id=incident.id, direction="out", body="回答")
            session.add(message)
            session.flush()
            keep_files(session, message, [AttachedFile("a.pdf", "application/pdf", PDF)], now)
            ids.append(message.id)
    purge_raw_mail(sessions, config, now)
    with sessions() as session:
        left = session.scalars(select(AnswerFile.message_id).order_by(AnswerFile.id)).all()
        assert left == ids[1:]  # closed 31 days ago: gone; 29 days ago and open: kept
        assert session.get(IncidentMessage, ids[0]).body == "回答"  # the thread stays
