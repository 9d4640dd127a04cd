"""R11 fax-to-mail: the text of a fax image (TIFF/PDF) is read by offline OCR.

Pages are rendered from Japanese text (tests/faxgen.py) and read back by the default engine. With
no engine (or no Japanese font to render with) the tests skip - or fail when
UKETSUKE_REQUIRE_PEERS=1, where the OCR extra and fonts must be installed.
"""

from __future__ import annotations

import io
import os

import pytest

from intake.fax import ocr
from intake.fax.lines import Box, group_lines

REQUIRED = os.environ.get("UKETSUKE_REQUIRE_PEERS") == "1"

try:
    from PIL import Image
except ImportError:  # the optional 'ocr' extra (Pillow, pypdfium2, rapidocr) is not installed
    if REQUIRED:
        raise
    pytest.skip("Pillow is not installed (optional 'ocr' extra)", allow_module_level=True)

try:
    import faxgen
except ImportError:  # tests/ imported as a package
    from tests import faxgen

FIELDS = {
    "customer": "C0123-4567",
    "domain": "example.co.jp",
    "company": "株式会社サンプル商事",
}
FIELDS_ORDER = ("社名", "顧客", "内容")


def _missing(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (UKETSUKE_REQUIRE_PEERS=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def ocr_engine() -> str:
    name = ocr.available_engine()
    if name is None:
        _missing("no OCR engine installed (pip install rapidocr onnxruntime or tesseract-ocr-jpn)")
    return name


@pytest.fixture(scope="module")
def font() -> str:
    try:
        return faxgen.find_cjk_font()
    except faxgen.NoCjkFont as exc:
        _missing(str(exc))
        raise


def _assert_fields(text: str | None) -> None:
    assert text is not None
    folded = faxgen.fold(text)
    missing = {name: value for name, value in FIELDS.items() if faxgen.fold(value) not in folded}
    assert not missing, f"not found {missing} in OCR text:\n{text}"


def test_r11_ocr_reads_fax_tiff_fields(ocr_engine: str, font: str) -> None:
    page = faxgen.render_fax_page(faxgen.SAMPLE_COVER, dpi=(200, 200), skew=0.4, font_path=font)
    data = faxgen.fax_tiff([page])
    with Image.open(io.BytesIO(data)) as image:
        assert image.info.get("compression") == "group4"
    _assert_fields(ocr.read_text(data, "image/tiff"))


def test_r11_ocr_reads_standard_resolution_fax_pdf_fields(ocr_engine: str, font: str) -> None:
    page = faxgen.render_fax_page(faxgen.SAMPLE_COVER, dpi=(200, 100), seed=1, font_path=font)
    data = faxgen.fax_pdf([page])
    assert data.startswith(b"%PDF-")
    text = ocr.read_text(data, "application/pdf", engine=ocr_engine)
    _assert_fields(text)
    lines = text.splitlines() if text else []
    # reading order: the cover's lines come top to bottom
    found = [next((i for i, line in enumerate(lines) if key in line), None) for key in FIELDS_ORDER]
    order = [i for i in found if i is not None]
    assert len(order) >= 2 and order == sorted(order), lines


def test_r11_ocr_tesseract_engine_reads_text(font: str) -> None:
    """The fallback engine, when installed (not required: RapidOCR is the default)."""
    if ocr.available_engine("tesseract") != "tesseract":
        pytest.skip("tesseract with jpn data is not installed")
    page = faxgen.render_fax_page(faxgen.SAMPLE_COVER, dpi=(200, 200), font_path=font)
    text = ocr.read_text(faxgen.fax_tiff([page]), "image/tiff", engine="tesseract")
    assert text is not None
    folded = faxgen.fold(text)
    assert "株式会社サンプル商事" in folded and "お問い合わせ内容" in folded, text


def test_r11_ocr_page_images_square_pixels_and_pages(font: str) -> None:
    fine = faxgen.render_fax_page(["顧客番号: C0123-4567"], dpi=(204, 196), font_path=font)
    standard = faxgen.render_fax_page(["顧客番号: C0123-4567"], dpi=(204, 98), font_path=font)
    assert abs(standard.size[1] * 2 - fine.size[1]) <= 2  # half the rows: non-square pixels
    fine_pages = ocr.page_images(faxgen.fax_tiff([fine, fine]), "image/tiff")
    standard_pages = ocr.page_images(faxgen.fax_tiff([standard]), "image/tiff; name=fax.tif")
    assert len(fine_pages) == 2 and len(standard_pages) == 1
    for image in fine_pages + standard_pages:
        assert image.mode == "L"
        # an A4 page: the height/width ratio is 297/210 once the pixels are square
        assert image.size[1] / image.size[0] == pytest.approx(297 / 210, rel=0.02)
    pdf_pages = ocr.page_images(faxgen.fax_pdf([standard]), "application/pdf")
    assert pdf_pages[0].size[1] / pdf_pages[0].size[0] == pytest.approx(297 / 210, rel=0.02)
    assert pdf_pages[0].size[0] == pytest.approx(ocr.RENDER_DPI * 210 / 25.4, rel=0.02)
    # a multi-page fax is bounded
    many = faxgen.fax_tiff([standard] * (ocr.MAX_PAGES + 2))
    assert len(ocr.page_images(many, "image/tiff")) == ocr.MAX_PAGES


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"", "image/tiff"),
        (b"II*\x00" + b"\x00" * 40, "image/tiff"),
        (b"%PDF-1.4\n%broken\n", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n" + b"\x01" * 30, "image/png"),
        (b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg"),
        (b"hello, this is not a fax", "image/tiff"),
        (b"hello, this is not a fax", "text/plain"),
    ],
)
def test_r11_ocr_broken_bytes_raise_ocr_error(data: bytes, content_type: str) -> None:
    with pytest.raises(ocr.OcrError):
        ocr.page_images(data, content_type)
    if ocr.available_engine() is not None:
        with pytest.raises(ocr.OcrError):
            ocr.read_text(data, content_type)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the cut-off tags
def test_r11_ocr_truncated_tiff_raises_ocr_error(font: str) -> None:
    page = faxgen.render_fax_page(faxgen.SAMPLE_COVER, font_path=font)
    data = faxgen.fax_tiff([page])
    with pytest.raises(ocr.OcrError):
        ocr.page_images(data[: len(data) // 2], "image/tiff")


def test_r11_ocr_no_engine_returns_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ocr, "_installed", lambda name: False)
    assert ocr.available_engine() is None
    assert ocr.available_engine("tesseract") is None
    # no engine: None before the bytes are even looked at (R11: held for keying)
    assert ocr.read_text(b"not an image", "image/tiff") is None
    assert ocr.read_text(b"not an image", "image/tiff", engine="rapidocr") is None


def test_r11_ocr_engine_choice() -> None:
    with pytest.raises(ValueError):
        ocr.available_engine("gocr")
    name = ocr.available_engine()
    assert name in (*ocr.ENGINES, None)
    for preferred in ocr.ENGINES:
        chosen = ocr.available_engine(preferred)
        assert chosen in (*ocr.ENGINES, None)
        if chosen is not None and ocr._installed(preferred):
            assert chosen == preferred


def test_r11_ocr_group_lines_reading_order() -> None:
    box = Box
    boxes = [
        box(400, 102, 600, 128, "4567"),
        box(10, 100, 200, 130, "顧客番号:"),
        box(10, 20, 300, 50, "FAX送信票"),
        box(205, 98, 395, 131, "C0123-"),
        box(900, 205, 1000, 228, "担当"),
        box(10, 200, 200, 230, "以上"),
    ]
    assert group_lines(boxes) == ["FAX送信票", "顧客番号:C0123-4567", "以上 担当"]
    assert group_lines([]) == []
