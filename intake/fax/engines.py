"""The offline OCR engines for fax pages (R11, docs/rules.md): probing, running, one instance
each.

RapidOCR (``rapidocr`` + ``onnxruntime``) ships its models inside the wheel and runs offline;
Tesseract is the Debian binary with ``tesseract-ocr-jpn``. Engines are imported lazily: this
module imports without RapidOCR or Tesseract.
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from intake.fax.errors import OcrError
from intake.fax.lines import Box, group_lines
from intake.fax.pages import RENDER_DPI

if TYPE_CHECKING:
    from PIL import Image

#: Seconds one Tesseract run may take before it is treated as failed.
TESSERACT_TIMEOUT = 120
TESSERACT_LANG = "jpn"


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


_PROBES: dict[str, Callable[[], bool]] = {
    "rapidocr": _rapidocr_installed,
    "tesseract": _tesseract_installed,
}


def installed(name: str) -> bool:
    """Whether engine ``name`` and the page decoders (Pillow, pypdfium2) are installed."""
    return _decoders_installed() and _PROBES[name]()


class Engine(Protocol):
    """An OCR engine: one instance per process, shared by the fax readers."""

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
            items.append(Box(min(xs), min(ys), max(xs), max(ys), str(text)))
        return group_lines(items)


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


_ENGINE_FACTORIES: dict[str, Callable[[], Engine]] = {
    "rapidocr": _RapidOcr,
    "tesseract": _Tesseract,
}
_engine_cache: dict[str, Engine] = {}
_engine_lock = threading.Lock()


def get_engine(name: str) -> Engine:
    """The process's one instance of engine ``name``, started on first use (OcrError if not)."""
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
