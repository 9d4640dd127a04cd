"""Fax-to-mail gateways (R11): the image's text, the sender's fax number.

Mail from a configured gateway is a FAX inquiry. Its PDF/TIFF stays in the stored raw message;
its text is read by the OCR engine when one is installed (the ``ocr`` extra), else the inquiry
is held for staff to key in the fields ("needs transcription").
"""

from __future__ import annotations

import binascii
import logging
import re
from dataclasses import dataclass

from intake.config import Config
from intake.fax.ocr import OcrError, available_engine, read_text
from intake.mail.access import header
from intake.mail.charsets import decode_text
from intake.mail.headers import decode_header_value
from intake.mail.mime import Part, parse_tree
from intake.mail.parse import safe_filename

log = logging.getLogger("uketsuke.fax")

IMAGE_TYPES = ("application/pdf", "image/tiff", "image/tif", "image/png", "image/jpeg")
IMAGE_SUFFIXES = (".pdf", ".tif", ".tiff", ".png", ".jpg", ".jpeg")


@dataclass
class FaxReading:
    """What a gateway's mail gave: OCR text (None without an engine) and the sender's number."""

    text: str | None
    fax_number: str | None


def _body_bytes(part: Part) -> bytes:
    encoding = header(part.headers, "Content-Transfer-Encoding").strip().lower()
    if encoding == "base64":
        try:
            return binascii.a2b_base64(part.body, strict_mode=False)
        except binascii.Error:
            return b""
    return part.body


def _is_image(part: Part) -> bool:
    name = (safe_filename(part) or "").lower()
    return part.content_type in IMAGE_TYPES or name.endswith(IMAGE_SUFFIXES)


def fax_images(root: Part) -> list[tuple[bytes, str]]:
    return [(_body_bytes(p), p.content_type) for p in root.walk() if _is_image(p)]


def _text_of(root: Part) -> str:
    texts = []
    for part in root.walk():
        if part.content_type == "text/plain":
            text, _ = decode_text(_body_bytes(part), part.headers.get_content_charset())
            texts.append(text)
    return "\n".join(texts)


class FaxReader:
    """Reads a gateway's mail; one instance per daemon (the OCR engine loads once)."""

    def __init__(self, config: Config, engine: str | None = None) -> None:
        self._engine = engine
        self._probed = engine is not None
        self.patterns = {
            address.lower(): [re.compile(p) for p in gateway.fax_number_patterns]
            for gateway in config.fax_gateways
            for address in gateway.sender_addresses
        }

    @property
    def engine(self) -> str | None:
        """The OCR engine, probed when the first fax arrives (the probe imports the engine: a
        second and tens of MB that a daemon without faxes never spends)."""
        if not self._probed:
            self._engine, self._probed = available_engine(), True
            if self._engine is None:
                log.warning("no OCR engine installed: fax inquiries will wait for transcription")
        return self._engine

    @engine.setter
    def engine(self, name: str | None) -> None:
        self._engine, self._probed = name, True

    def fax_number(self, root: Part, sender: str | None) -> str | None:
        subject = decode_header_value(header(root.headers, "Subject"))
        body = _text_of(root)
        for pattern in self.patterns.get((sender or "").lower(), []):
            for text in (subject, body):
                match = pattern.search(text)
                if match:
                    return re.sub(r"\s+", "", match.group(1)).strip("-")
        return None

    def __call__(self, data: bytes, sender: str | None = None) -> FaxReading:
        root = parse_tree(data)
        number = self.fax_number(root, sender)
        if self.engine is None:
            return FaxReading(None, number)
        pages = []
        for image, content_type in fax_images(root):
            try:
                text = read_text(image, content_type, self.engine)
            except OcrError as exc:
                log.warning("fax image unreadable (%s)", type(exc).__name__)
                continue
            if text:
                pages.append(text)
        return FaxReading("\n\n".join(pages) if pages else None, number)
