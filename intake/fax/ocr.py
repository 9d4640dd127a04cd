"""Text of fax images by offline OCR (SPEC R11, fax-to-mail).

R11: the image a fax gateway mails (PDF or TIFF) is kept and "its text is read by OCR where an OCR
engine is installed, and R1 applies to that text. Without OCR the incident is held for staff to key
in the fields." This module is that reading step:

* :func:`available_engine` says which engine is installed ("rapidocr", "tesseract") or None.
* :func:`page_images` turns the attachment into page images with square pixels: PDF pages are
  rendered at 200 dpi (pypdfium2); TIFF (multi-page, CCITT G3/G4 1-bit, 204x98 'standard' and
  204x196 'fine' fax resolutions), PNG and JPEG are decoded with Pillow and non-square pixels are
  stretched to square.
* :func:`read_text` OCRs all pages and returns their lines in reading order (top to bottom, left
  to right), pages separated by a blank line.

Error contract: ``read_text`` returns None when no engine is installed (the caller holds the
incident for keying, R11) and raises :class:`OcrError` - never anything else - when the bytes are
not a readable image/PDF, exceed the limits, or the engine fails. A blank page gives "".

Engines are imported lazily: this module imports without Pillow, pypdfium2, RapidOCR or Tesseract.
RapidOCR (``rapidocr`` + ``onnxruntime``) ships its models inside the wheel and runs offline;
Tesseract is the Debian binary with ``tesseract-ocr-jpn``. RapidOCR is preferred: on synthetic
200 dpi fax pages it makes fewer character errors (see bench/ocr_accuracy.md).
"""

from __future__ import annotations

import functools
import importlib.util
import io
import logging
import math
import os
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "ENGINES",
    "MAX_PAGES",
    "OcrError",
    "available_engine",
    "page_images",
    "read_text",
]

log = logging.getLogger(__name__)

#: Engine names in order of preference (accuracy first, R11 / bench/ocr_accuracy.md).
ENGINES: tuple[str, ...] = ("rapidocr", "tesseract")

#: At most this many pages are read from one attachment; later pages are skipped (logged).
MAX_PAGES = 20
#: Resolution PDF pages are rendered at, and the one larger images are scaled down to.
RENDER_DPI = 200
#: An encoded page larger than this (pixels) is refused rather than decoded.
MAX_SOURCE_PIXELS = 60_000_000
#: Pages handed to the engine are scaled down to at most this many pixels (A4 at 200 dpi ~ 3.9 M).
MAX_PAGE_PIXELS = 8_000_000
#: Pixels whose width/height ratio differs from 1 by more than this are stretched to square.
ASPECT_TOLERANCE = 0.01
#: Gaussian blur radius (pixels) after stretching a bilevel page to square pixels.
STRETCH_BLUR = 0.8
#: Seconds one Tesseract run may take before it is treated as failed.
TESSERACT_TIMEOUT = 120
TESSERACT_LANG = "jpn"

_PDF = "pdf"
_RASTER = "raster"
_CONTENT_TYPES = {
    "application/pdf": _PDF,
    "application/x-pdf": _PDF,
    "image/tiff": _RASTER,
    "image/tif": _RASTER,
    "image/x-tiff": _RASTER,
    "image/png": _RASTER,
    "image/jpeg": _RASTER,
    "image/jpg": _RASTER,
    "image/pjpeg": _RASTER,
}
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", _PDF),
    (b"II*\x00", _RASTER),
    (b"MM\x00*", _RASTER),
    (b"\x89PNG\r\n\x1a\n", _RASTER),
    (b"\xff\xd8\xff", _RASTER),
)


class OcrError(Exception):
    """The attachment could not be read as page images, or the OCR engine failed (R11).

    The caller catches it and treats the fax as unread (held for keying, R11).
    """


# --------------------------------------------------------------------------- engine probing


def _rapidocr_installed() -> bool:
    try:
        import onnxruntime  # noqa: F401
        import rapidocr
    except Exception:  # ImportError, or a broken native library
        return False
    # The wheel ships its models; without them RapidOCR would try to download at run time.
    models = Path(rapidocr.__file__).parent / "models"
    return len(list(models.glob("*.onnx"))) >= 2


def _tesseract_installed() -> bool:
    exe = shutil.which("tesseract")
    if exe is None:
        return False
    try:
        out = subprocess.run(
            [exe, "--list-langs"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    langs = {line.strip() for line in (out.stdout + out.stderr).splitlines()}
    return all(lang in langs for lang in TESSERACT_LANG.split("+"))


def _decoders_installed() -> bool:
    """Pillow (TIFF/PNG/JPEG) and pypdfium2 (PDF): without them no engine gets a page."""
    return all(importlib.util.find_spec(module) is not None for module in ("PIL", "pypdfium2"))


_PROBES = {"rapidocr": _rapidocr_installed, "tesseract": _tesseract_installed}


@functools.cache
def _installed(name: str) -> bool:
    try:
        return _decoders_installed() and _PROBES[name]()
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


# --------------------------------------------------------------------------- page images


def _kind(data: bytes, content_type: str) -> str:
    head = data[:16]
    for magic, kind in _SIGNATURES:
        if head.startswith(magic):
            return kind
    base = content_type.split(";", 1)[0].strip().lower()
    if base in _CONTENT_TYPES:
        raise OcrError(f"bytes are not a {base} file (unknown signature {head[:8]!r})")
    raise OcrError(f"unsupported content type {content_type!r} for fax OCR")


def page_images(data: bytes, content_type: str) -> list[Image.Image]:
    """Pages of a fax attachment as grayscale ("L") Pillow images with square pixels (R11).

    PDF pages are rendered at :data:`RENDER_DPI`; TIFF (all frames, incl. CCITT G3/G4 1-bit
    fax TIFFs at 204x98 or 204x196 dpi), PNG and JPEG frames are decoded, stretched vertically
    (or horizontally) to square pixels and scaled down to about :data:`RENDER_DPI`. At most
    :data:`MAX_PAGES` pages are returned. The bytes' signature decides the format;
    ``content_type`` only names what was expected. Raises :class:`OcrError` for anything
    unreadable.
    """
    if not data:
        raise OcrError("empty attachment")
    kind = _kind(data, content_type)
    try:
        pages = _pdf_pages(data) if kind == _PDF else _raster_pages(data)
    except OcrError:
        raise
    except Exception as exc:  # decoders raise many types on hostile input
        raise OcrError(f"cannot decode {content_type or 'attachment'}: {exc}") from exc
    if not pages:
        raise OcrError("attachment has no pages")
    return pages


def _pdf_pages(data: bytes) -> list[Image.Image]:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(data)
    try:
        count = len(doc)
        if count > MAX_PAGES:
            log.warning("fax PDF has %d pages; reading the first %d", count, MAX_PAGES)
        pages = []
        for index in range(min(count, MAX_PAGES)):
            page = doc[index]
            try:
                width_pt, height_pt = page.get_size()
                scale = RENDER_DPI / 72
                area = width_pt * height_pt * scale * scale
                if area > MAX_PAGE_PIXELS:
                    scale *= math.sqrt(MAX_PAGE_PIXELS / area)
                bitmap = page.render(scale=scale, grayscale=True)
                try:
                    image = bitmap.to_pil().convert("L")
                finally:
                    bitmap.close()
            finally:
                page.close()
            pages.append(image)
        return pages
    finally:
        doc.close()


def _raster_pages(data: bytes) -> list[Image.Image]:
    from PIL import Image, ImageOps

    pages = []
    with Image.open(io.BytesIO(data)) as image:
        frames = getattr(image, "n_frames", 1)
        if frames > MAX_PAGES:
            log.warning("fax image has %d pages; reading the first %d", frames, MAX_PAGES)
        for index in range(min(frames, MAX_PAGES)):
            image.seek(index)
            width, height = image.size
            if width * height > MAX_SOURCE_PIXELS:
                raise OcrError(f"page {index + 1} is too large ({width}x{height} pixels)")
            xdpi, ydpi = _resolution(image)
            frame = image.copy()  # decodes this frame
            if image.format == "JPEG":
                frame = ImageOps.exif_transpose(frame)
            bilevel = frame.mode == "1"
            pages.append(_normalise(_to_gray(frame), xdpi, ydpi, bilevel=bilevel))
    return pages


def _resolution(image: Image.Image) -> tuple[float, float]:
    """Horizontal and vertical dpi of a frame; (0, 0) when it does not say."""
    for key in ("dpi", "resolution"):
        value = image.info.get(key)
        if value and len(value) == 2:
            try:
                x, y = float(value[0]), float(value[1])
            except (TypeError, ValueError):
                continue
            if x > 0 and y > 0 and math.isfinite(x) and math.isfinite(y):
                return x, y
    return 0.0, 0.0


def _to_gray(image: Image.Image) -> Image.Image:
    if image.mode == "L":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        from PIL import Image as PILImage

        rgba = image.convert("RGBA")
        background = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = PILImage.alpha_composite(background, rgba)
    return image.convert("L")


def _normalise(
    image: Image.Image, xdpi: float, ydpi: float, *, bilevel: bool = False
) -> Image.Image:
    """Square pixels (fax 204x98 -> 204x204) and at most ~RENDER_DPI / MAX_PAGE_PIXELS.

    A bilevel (fax) page that is stretched up is resampled bicubically and slightly blurred:
    on standard-resolution faxes that smooths the doubled rows and lowers both engines' error
    rates (bench/ocr_accuracy.md).
    """
    from PIL import Image as PILImage
    from PIL import ImageFilter

    width, height = image.size
    sx = sy = 1.0
    if xdpi and ydpi and abs(xdpi / ydpi - 1) > ASPECT_TOLERANCE:
        if ydpi < xdpi:
            sy = xdpi / ydpi
        else:
            sx = ydpi / xdpi
    dpi = max(xdpi, ydpi)
    if dpi > RENDER_DPI * 1.25:  # e.g. a 300/400/600 dpi scan: OCR at ~200 dpi
        sx *= RENDER_DPI / dpi
        sy *= RENDER_DPI / dpi
    area = width * sx * height * sy
    if area > MAX_PAGE_PIXELS:
        shrink = math.sqrt(MAX_PAGE_PIXELS / area)
        sx *= shrink
        sy *= shrink
    if sx == 1.0 and sy == 1.0:
        return image
    size = (max(1, round(width * sx)), max(1, round(height * sy)))
    if bilevel and max(sx, sy) >= 1.5:  # standard-resolution fax: every row doubled
        stretched = image.resize(size, PILImage.Resampling.BICUBIC)
        return stretched.filter(ImageFilter.GaussianBlur(STRETCH_BLUR))
    return image.resize(size, PILImage.Resampling.LANCZOS)


# --------------------------------------------------------------------------- engines


class _Engine(Protocol):
    def lines(self, image: Image.Image) -> list[str]:
        """Text lines of one page image, top to bottom, left to right."""
        ...


class _RapidOcr:
    """RapidOCR (PP-OCR det/cls/rec on onnxruntime, bundled models; multilingual incl. Japanese)."""

    def __init__(self) -> None:
        from rapidocr import RapidOCR

        self._ocr = RapidOCR(params={"Global.log_level": "warning"})
        self._lock = threading.Lock()

    def lines(self, image: Image.Image) -> list[str]:
        with self._lock:  # one model instance; onnxruntime already uses all cores
            result = self._ocr(image.convert("RGB"))
        boxes = getattr(result, "boxes", None)
        texts = getattr(result, "txts", None)
        if boxes is None or not texts:
            return []
        items = []
        for box, text in zip(boxes, texts, strict=False):
            xs = [float(point[0]) for point in box]
            ys = [float(point[1]) for point in box]
            items.append(_Box(min(xs), min(ys), max(xs), max(ys), str(text)))
        return group_lines(items)


class _Box:
    __slots__ = ("bottom", "left", "right", "text", "top")

    def __init__(self, left: float, top: float, right: float, bottom: float, text: str) -> None:
        self.left, self.top, self.right, self.bottom, self.text = left, top, right, bottom, text

    @property
    def height(self) -> float:
        return max(1.0, self.bottom - self.top)

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


def group_lines(boxes: Sequence[_Box]) -> list[str]:
    """Group word boxes into lines by their vertical position, each line left to right.

    A box joins a line when its vertical middle falls inside the line's vertical extent (or the
    line's middle inside the box's). Boxes on one line are joined without a space when they touch
    and with one space when the gap is wider than half the line height.
    """
    rows: list[list[_Box]] = []
    for box in sorted(boxes, key=lambda b: (b.middle, b.left)):
        for row in reversed(rows[-3:]):
            top = min(b.top for b in row)
            bottom = max(b.bottom for b in row)
            middle = (top + bottom) / 2
            if top <= box.middle <= bottom or box.top <= middle <= box.bottom:
                row.append(box)
                break
        else:
            rows.append([box])
    rows.sort(key=lambda row: min(b.top for b in row))
    lines = []
    for row in rows:
        row.sort(key=lambda b: b.left)
        height = max(b.height for b in row)
        parts = [row[0].text.strip()]
        for previous, box in zip(row, row[1:], strict=False):
            gap = box.left - previous.right
            parts.append((" " if gap > height / 2 else "") + box.text.strip())
        line = "".join(parts).strip()
        if line:
            lines.append(line)
    return lines


class _Tesseract:
    """The Tesseract binary (LSTM, ``jpn`` traineddata), page segmentation in reading order."""

    def __init__(self) -> None:
        exe = shutil.which("tesseract")
        if exe is None:
            raise OcrError("tesseract is not installed")
        self._exe = exe

    def lines(self, image: Image.Image) -> list[str]:
        buf = io.BytesIO()
        image.save(buf, format="PNG", dpi=(RENDER_DPI, RENDER_DPI))
        command = [
            self._exe,
            "stdin",
            "stdout",
            "-l",
            TESSERACT_LANG,
            "--psm",
            "3",
            "-c",
            "preserve_interword_spaces=1",
        ]
        try:
            done = subprocess.run(
                command,
                input=buf.getvalue(),
                capture_output=True,
                timeout=TESSERACT_TIMEOUT,
                check=False,
                env={**os.environ, "OMP_THREAD_LIMIT": "1"},
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise OcrError(f"tesseract failed: {exc}") from exc
        if done.returncode != 0:
            detail = done.stderr.decode("utf-8", "replace").strip()[-300:]
            raise OcrError(f"tesseract exited {done.returncode}: {detail}")
        text = done.stdout.decode("utf-8", "replace")
        return [line.strip() for line in text.splitlines() if line.strip()]


_ENGINE_FACTORIES: dict[str, Any] = {"rapidocr": _RapidOcr, "tesseract": _Tesseract}
_engine_cache: dict[str, _Engine] = {}
_engine_lock = threading.Lock()


def _engine(name: str) -> _Engine:
    with _engine_lock:
        engine = _engine_cache.get(name)
        if engine is None:
            try:
                engine = _ENGINE_FACTORIES[name]()
            except OcrError:
                raise
            except Exception as exc:
                raise OcrError(f"cannot start OCR engine {name}: {exc}") from exc
            _engine_cache[name] = engine
        return engine


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
    ocr = _engine(name)
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
