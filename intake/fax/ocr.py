"""Text of fax images by offline OCR (R11 fax-to-mail, docs/rules.md).

R11: the image a fax gateway mails (PDF or TIFF) is kept and "its text is read by OCR where an OCR
engine is installed, and R1 applies to that text. Without OCR the incident is held for staff to key
in the fields." This module is that reading step:

* :func:`available_engine` says which engine is installed ("rapidocr", "tesseract") or None.
* :func:`page_images` (:mod:`intake.fax.pages`) turns the attachment into page images with
  square pixels.
* :func:`read_text` OCRs all pages and returns their lines in reading order (top to bottom, left
  to right), pages separated by a blank line.

Error contract: ``read_text`` returns None when no engine is installed (the caller holds the
incident for keying, R11) and raises :class:`OcrError` - never anything else - when the bytes are
not a readable image/PDF, exceed the limits, or the engine fails. A blank page gives "".

Engines are imported lazily: this module imports without Pillow, pypdfium2, RapidOCR or Tesseract.
RapidOCR is preferred: on synthetic 200 dpi fax pages it makes fewer character errors (see
bench/ocr_accuracy.md). The engines themselves are in :mod:`intake.fax.engines`.
"""

from __future__ import annotations

import functools
import logging

from intake.fax import engines
from intake.fax.errors import OcrError
from intake.fax.pages import MAX_PAGES, RENDER_DPI, page_images

__all__ = [
    "ENGINES",
    "MAX_PAGES",
    "RENDER_DPI",
    "OcrError",
    "available_engine",
    "page_images",
    "read_text",
]

log = logging.getLogger(__name__)

#: Engine names in order of preference (accuracy first, R11 / bench/ocr_accuracy.md).
ENGINES: tuple[str, ...] = ("rapidocr", "tesseract")


@functools.cache
def _installed(name: str) -> bool:
    try:
        return engines.installed(name)
    except Exception:  # a broken install is no engine
        log.exception("probing OCR engine %s failed", name)
        return False


def available_engine(preferred: str | None = None) -> str | None:
    """Name of the OCR engine to use for R11 fax images, or None when none is installed.

    ``preferred`` ("rapidocr" or "tesseract") is returned when it is installed; otherwise the
    first installed engine of :data:`ENGINES`. An engine counts only with Pillow and pypdfium2
    importable. The probes (import and bundled models for RapidOCR, the binary and its ``jpn``
    data for Tesseract) run once per process (the RapidOCR import takes about a second).
    """
    if preferred is not None and preferred not in ENGINES:
        raise ValueError(f"unknown OCR engine {preferred!r}; expected one of {ENGINES}")
    order = ((preferred,) if preferred else ()) + ENGINES
    for name in order:
        if _installed(name):
            return name
    return None


def read_text(data: bytes, content_type: str, engine: str | None = None) -> str | None:
    """Text of every page of a fax attachment (PDF/TIFF/PNG/JPEG) by offline OCR (R11).

    ``engine`` names the engine ("rapidocr", "tesseract"); None picks :func:`available_engine`.
    Returns None when that engine (or, with None, any engine) is not installed - R11's "without
    OCR" case. Otherwise returns the lines of each page in reading order joined by newlines,
    pages separated by a blank line ("" for blank pages). Raises :class:`OcrError` - and only
    that - for unreadable or oversized input and for engine failures.
    """
    if engine is not None and engine not in ENGINES:
        raise ValueError(f"unknown OCR engine {engine!r}; expected one of {ENGINES}")
    name = engine if engine is not None and _installed(engine) else None
    if engine is None:
        name = available_engine()
    if name is None:
        return None
    images = page_images(data, content_type)
    ocr = engines.get_engine(name)
    texts = []
    for number, image in enumerate(images, start=1):
        try:
            lines = ocr.lines(image)
        except OcrError:
            raise
        except Exception as exc:
            raise OcrError(f"{name} failed on page {number}: {exc}") from exc
        texts.append("\n".join(lines))
    return "\n\n".join(text for text in texts if text)
