"""Fax-to-mail gateways through the pipeline (R11, R10): real OCR on rendered fax pages."""

from __future__ import annotations

import base64
import subprocess
import sys
from datetime import datetime

import pytest
from sqlalchemy import select

from intake import db
from intake.channels.fax import FaxReader
from intake.config import Config, FaxGatewayConfig, load_config
from intake.customers import import_rows, parse_rows
from intake.fax.ocr import available_engine
from intake.models import Incident, Inquiry, OutboxMail, RawMessage, RawState
from intake.pipeline import Pipeline
from intake.store import store_raw
from scheduler.calendar import TOKYO
from tests.conftest import missing_peer
from tests.faxgen import cover_fields, fax_pdf, fax_tiff, render_fax_page

NOW = datetime(2026, 11, 24, 10, 30, tzinfo=TOKYO)
GATEWAY = "fax-gw@example.jp"
MFP = "mfp@example.jp"


@pytest.fixture
def config() -> Config:
    base = load_config(None, env={})
    return base.model_copy(
        update={
            "fax_gateways": [
                FaxGatewayConfig(name="hylafax", sender_addresses=[GATEWAY], profile="helpdesk"),
                FaxGatewayConfig(
                    name="mfp",
                    sender_addresses=[MFP],
                    fax_number_patterns=[r"送信元[:：]\s*([0-9-]{9,})"],
                ),
            ]
        }
    )


def gateway_mail(
    sender: str, subject: str, text: str, image: bytes, content_type: str, filename: str
) -> bytes:
    payload = base64.encodebytes(image).decode()
    return (
        f"From: {sender}\r\nTo: support@example.jp\r\nSubject: {subject}\r\n"
        "Message-ID: <fax.1@gw.example.jp>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="fax"\r\n\r\n'
        f"--fax\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{text}\r\n"
        f"--fax\r\nContent-Type: {content_type}; name={filename}\r\n"
        f"Content-Disposition: attachment; filename={filename}\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{payload}--fax--\r\n"
    ).encode()


def hylafax_tiff() -> bytes:
    cover = cover_fields(0)
    return gateway_mail(
        GATEWAY,
        "Facsimile received from 03-1234-5678",
        "Fax received from 03-1234-5678\r\nPages: 1\r\nQuality: Fine",
        fax_tiff([render_fax_page(cover.lines(), dpi=(200, 200), noise=0.002, seed=1)]),
        "image/tiff",
        "fax000123.tif",
    )


def register(sessions, contact: str = "yamada@example.co.jp") -> None:
    header = "customer_number,company,domains,contact_emails,profile,order_accepted\n"
    rows = parse_rows(
        (
            header + f"C0123-4567,株式会社サンプル商事,example.co.jp,{contact},helpdesk,"
            "2026-11-01\n"
        ).encode(),
        "helpdesk",
        ["helpdesk"],
    )
    with sessions.begin() as session:
        import_rows(session, rows, progress=False)


def run(pipeline: Pipeline, data: bytes) -> int:
    stored = store_raw(pipeline.sessions, data, channel="smtp", profile="helpdesk")
    with pipeline.sessions.begin() as session:  # received in business hours, whenever run
        session.get(RawMessage, stored.id).received_at = NOW
    pipeline.process(stored.id, NOW)
    return stored.id


@pytest.fixture(scope="module")
def ocr() -> str:
    engine = available_engine()
    if engine is None:
        missing_peer("no OCR engine installed (pip install '.[ocr]' or tesseract-ocr-jpn)")
    return engine


def test_r11_r10_hylafax_tiff_becomes_incident_answered_to_registered_contact(
    config, sessions, ocr
) -> None:
    register(sessions)
    pipeline = Pipeline(config, sessions, read_fax=FaxReader(config, ocr))
    raw_id = run(pipeline, hylafax_tiff())
    with sessions() as session:
        raw = session.get(RawMessage, raw_id)
        assert raw.state == RawState.PROCESSED, raw.last_error
        incident = session.scalars(select(Incident)).one()
        assert (incident.channel, incident.reply_address) == ("fax", "yamada@example.co.jp")
        # R6 on the fax's own text, not the gateway's English cover; R11 the sender's number
        assert "non_japanese" not in incident.flags
        assert incident.fields["fax_number"]
        assert incident.fields["customer_number"] == "C0123-4567"
        assert "パスワード" in incident.first_line or "ログイン" in incident.first_line
        ack = session.scalars(select(OutboxMail)).one()
        assert ack.recipients == ["yamada@example.co.jp"]  # never the gateway (R10)
        inquiry = session.scalars(select(Inquiry)).one_or_none()
        assert inquiry is None or inquiry.state != "held"


def test_r11_mfp_pdf_fields_and_fax_number(config, sessions, ocr) -> None:
    cover = cover_fields(0)
    page = render_fax_page(cover.lines(), dpi=(200, 100), noise=0.001, seed=2)
    data = gateway_mail(
        MFP,
        "FAX受信",
        "送信元: 0312345678 / 1 page",
        fax_pdf([page]),
        "application/pdf",
        "scan.pdf",
    )
    reading = FaxReader(config, ocr)(data, MFP)
    assert reading.fax_number == "0312345678"
    assert reading.text and "C0123" in reading.text.replace(" ", "")


def test_r10_fax_without_registered_contact_is_flagged_no_reply_address(
    config, sessions, ocr
) -> None:
    pipeline = Pipeline(config, sessions, read_fax=FaxReader(config, ocr))
    run(pipeline, hylafax_tiff())
    with sessions() as session:
        incident = session.scalars(select(Incident)).one()
        assert "no_reply_address" in incident.flags
        assert session.scalars(select(OutboxMail)).all() == []


def test_r11_without_ocr_the_fax_waits_for_transcription(config, sessions) -> None:
    reader = FaxReader(config)
    reader.engine = None  # as on a host without the ocr extra
    pipeline = Pipeline(config, sessions, read_fax=reader)
    raw_id = run(pipeline, hylafax_tiff())
    with sessions() as session:
        assert session.get(RawMessage, raw_id).state == RawState.HELD
        held = session.scalars(select(Inquiry)).one()
        assert (held.reason, held.channel) == ("needs_transcription", "fax")
        assert held.fields["fax_number"] == "03-1234-5678"
        assert session.scalars(select(OutboxMail)).all() == []  # nothing to the gateway


def test_r11_staff_key_in_a_held_fax_and_it_is_answered_by_email(config, sessions, cli) -> None:
    register(sessions)
    reader = FaxReader(config)
    reader.engine = None
    run(Pipeline(config, sessions, read_fax=reader), hylafax_tiff())
    with sessions() as session:
        held_id = session.scalars(select(Inquiry.id)).one()
    missing = cli("held", "complete", str(held_id), "--company", "株式会社サンプル商事")
    assert missing.returncode == 2 and "still not accepted" in missing.stderr
    done = cli(
        "held",
        "complete",
        str(held_id),
        "--company",
        "株式会社サンプル商事",
        "--name",
        "山田 太郎",
        "--domain",
        "example.co.jp",
        "--customer",
        "c0123-4567",
        "--text",
        "ログインできません。",
    )
    assert done.returncode == 0, done.stderr
    with sessions() as session:
        incident = session.scalars(select(Incident)).one()
        assert (incident.channel, incident.reply_address) == ("fax", "yamada@example.co.jp")
        assert incident.first_line == "ログインできません。"
        assert session.scalars(select(Inquiry.state)).one() == "accepted"
        [ack] = session.scalars(select(OutboxMail)).all()
        assert ack.recipients == ["yamada@example.co.jp"]


def test_r11_r29_reprocess_reads_the_fax_as_the_daemon_would(config, cli, tmp_path, ocr) -> None:
    """A fax stored while OCR was missing: ``reprocess`` runs the daemon's steps, fax reader
    included, so it becomes an incident instead of staying "needs transcription"."""
    toml = tmp_path / "fax.toml"
    toml.write_text(
        f'[[fax_gateways]]\nname = "hylafax"\nsender_addresses = ["{GATEWAY}"]\n', encoding="utf-8"
    )
    cli.initialized()
    engine = db.make_engine(cli.database_url)
    sessions = db.session_factory(engine)
    stored = store_raw(sessions, hylafax_tiff(), channel="smtp", profile="helpdesk")
    with sessions.begin() as session:
        session.get(RawMessage, stored.id).state = RawState.UNPROCESSABLE
    result = cli("reprocess", str(stored.id), "--config", str(toml), timeout=180)
    assert result.returncode == 0, result.stderr
    with sessions() as session:
        assert session.get(RawMessage, stored.id).state == RawState.PROCESSED
        incident = session.scalars(select(Incident)).one()
        assert incident.channel == "fax" and incident.fields["customer_number"] == "C0123-4567"
    engine.dispose()


def test_ocr_engine_loads_when_the_first_fax_arrives(config) -> None:
    """A daemon with a fax gateway but no fax yet never imports the OCR engine (memory)."""
    probe = (
        "import sys\n"
        "from intake.channels.fax import FaxReader\n"
        "from intake.config import FaxGatewayConfig, load_config\n"
        "config = load_config(None, env={}).model_copy(update={'fax_gateways': "
        "[FaxGatewayConfig(name='gw', sender_addresses=['gw@example.jp'])]})\n"
        "FaxReader(config)\n"
        "print(' '.join(m for m in ('rapidocr', 'onnxruntime', 'pypdfium2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
