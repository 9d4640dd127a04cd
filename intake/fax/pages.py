"""Fax attachments as page images with square pixels (R11, docs/rules.md).

:func:`page_images` turns the attachment into page images with square pixels: PDF pages are
rendered at 200 dpi (pypdfium2); TIFF (multi-page, CCITT G3/G4 1-bit, 204x98 'standard' and
204x196 'fine' fax resolutions), PNG and JPEG are decoded with Pillow and non-square pixels are
stretched to square. Pillow and pypdfium2 are imported lazily: this module imports without them.
"""

from __future__ import annotations

import io
import logging
import math
from typing import TYPE_CHECKING

from intake.fax.errors import OcrError

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

#: At most this many pages are read from one attachment; later pages are skipped (logged).
MAX_PAGES = 20
#: Resolution PDF pages are rendered at, and the one larger images are scaled down to.
RENDER_DPI = 200
#: An encoded page larger than this (pixels) is refused rather than decoded.
MAX_SOURCE_PIXELS = 60_000_000
#: Pages handed to the engine are scaled down to at most this many pixels (A4 at 200 dpi ~ 3.9 M).
MAX_PAGE_PIXELS = 8_000_000
#: Pixels whose width/height ratio differs from 1 by more than this are stretched to square.
PIXEL_RATIO_TOLERANCE = 0.01
#: Gaussian blur radius (pixels) after stretching a bilevel page to square pixels.
STRETCH_BLUR = 0.8
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
    if xdpi and ydpi and abs(xdpi / ydpi - 1) > PIXEL_RATIO_TOLERANCE:
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
