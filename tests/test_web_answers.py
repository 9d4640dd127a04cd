"""The dashboard's answer form: 挿入 fills a canned answer in without JavaScript, files go with
the answer (or stay internal with a #note), and the thread lists the files of both sides.
Flask's test client on real SQLite/PostgreSQL, through the code a mailed answer runs."""

from __future__ import annotations

import email
import html
import io
from email import policy

from sqlalchemy import select

from intake.models import AnswerFile, CannedAnswer, IncidentMessage
from intake.pipeline import Pipeline
from tests.mailmaker import FIELDS_BLOCK, make_mail
from tests.test_answer_files import PDF, files_of, with_file
from tests.test_staff_mail import outbox as outbox_rows
from tests.test_staff_mail import receive as receive_raw
from tests.test_staff_mail import staff_reply
from tests.test_web_staff import (  # noqa: F401 - fixtures
    client,
    config,
    desk,
    outbox,
    post,
    receive,
    staff,
    token,
)

CANNED = "{氏名} 様\n\nお問い合わせ {番号} について、{担当者} がご案内します。"


def upload(logged_in, number: int, text: str, *files: tuple[bytes, str]):  # noqa: ANN001, ANN201
    data = {
        "csrf_token": token(logged_in, f"/staff/incidents/{number}"),
        "text": text,
        "files": [(io.BytesIO(content), name) for content, name in files],
    }
    return logged_in.post(
        f"/staff/incidents/{number}/answer", data=data, content_type="multipart/form-data"
    )


def textarea(page) -> str:  # noqa: ANN001
    start = page.text.index('name="text" aria-describedby="answer-hint">')
    inner = page.text[page.text.index(">", start) + 1 : page.text.index("</textarea>", start)]
    return html.unescape(inner)


def test_canned_insert_fills_the_answer_box_and_keeps_what_was_typed(
    config,  # noqa: F811
    staff,  # noqa: F811
    desk,  # noqa: F811
) -> None:
    [number] = receive(config, desk, "印刷できません。")
    with desk.begin() as session:
        session.add(CannedAnswer(name="ご案内", profile=None, body=CANNED))
    page = staff.get(f"/staff/incidents/{number}")
    assert '<option value="ご案内">ご案内</option>' in page.text
    assert f'formaction="/staff/canned/{number}"' in page.text and "挿入</button>" in page.text
    filled = post(staff, f"/staff/canned/{number}", canned="ご案内", text="#close\n追記です。")
    assert filled.status_code == 200
    assert textarea(filled) == (
        f"#close\n山田 太郎 様\n\nお問い合わせ [#{number}] について、佐藤 花子 がご案内します。"
        "\n\n追記です。"
    )
    assert outbox(desk, "answer") == []  # nothing saved or sent
    unknown = post(staff, f"/staff/canned/{number}", canned="ありません", text="そのまま")
    assert unknown.status_code == 400 and textarea(unknown) == "そのまま"


def test_answer_file_from_the_dashboard_arrives_and_is_listed(
    config,  # noqa: F811
    staff,  # noqa: F811
    desk,  # noqa: F811
) -> None:
    [number] = receive(config, desk, "印刷できません。")
    sent = upload(staff, number, "手順書をお送りします。", (PDF, "手順書.pdf"))
    assert sent.status_code == 303, sent.text
    [mail] = outbox(desk, "answer")
    message = email.message_from_bytes(mail.data, policy=policy.default)
    assert files_of(message) == [("手順書.pdf", "application/pdf", PDF)]  # type: ignore[arg-type]
    with desk() as session:
        kept = session.scalars(select(AnswerFile)).one()
        out = session.get(IncidentMessage, kept.message_id)
        assert (out.direction, out.incident_id, kept.data) == ("out", number, PDF)
    page = staff.get(f"/staff/incidents/{number}")
    assert f'href="/staff/answer-files/{kept.id}" download>手順書.pdf</a>' in page.text
    download = staff.get(f"/staff/answer-files/{kept.id}")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Type"] == "application/octet-stream"


def test_answer_file_with_a_dashboard_note_stays_internal(
    config,  # noqa: F811
    staff,  # noqa: F811
    desk,  # noqa: F811
) -> None:
    [number] = receive(config, desk, "印刷できません。")
    assert (
        upload(staff, number, "#note\n社内用のログ", (b"ERR 42\n", "server.log")).status_code == 303
    )
    assert outbox(desk, "answer") == []
    with desk() as session:
        kept = session.scalars(select(AnswerFile)).one()
        assert session.get(IncidentMessage, kept.message_id).direction == "note"
    assert "server.log</a>" in staff.get(f"/staff/incidents/{number}").text


def test_answer_file_of_a_refused_type_on_the_dashboard_sends_nothing(
    config,  # noqa: F811
    staff,  # noqa: F811
    desk,  # noqa: F811
) -> None:
    [number] = receive(config, desk, "印刷できません。")
    refused = upload(staff, number, "実行してください。", (b"MZ\x90\x00", "setup.exe"))
    assert refused.status_code == 400
    assert "何も送信していません" in refused.text and "setup.exe" in refused.text
    assert textarea(refused) == "実行してください。"
    assert outbox(desk, "answer") == []
    with desk() as session:
        assert session.scalars(select(AnswerFile)).all() == []


def test_answer_file_of_a_mailed_answer_is_listed_on_the_thread(
    config,  # noqa: F811
    staff,  # noqa: F811
    desk,  # noqa: F811
) -> None:
    pipeline = Pipeline(config, desk)
    inquiry = make_mail(FIELDS_BLOCK + "\n印刷できません。\n")
    shot = b"\x89PNG\r\n\x1a\n" + bytes(64)
    [number] = receive(config, desk, "", data=with_file(inquiry, "画面.png", shot, "image/png"))
    [notify] = outbox_rows(desk, "staff_notify")
    reply = with_file(staff_reply(notify, "手順書を添付します。"), "手順書.pdf", PDF)
    receive_raw(pipeline, reply)
    assert len(outbox_rows(desk, "answer")) == 1
    page = staff.get(f"/staff/incidents/{number}")
    assert ">画面.png</a>" in page.text and ">手順書.pdf</a>" in page.text  # both ways
    assert page.text.index(">画面.png</a>") < page.text.index(">手順書.pdf</a>")
