"""OCR accuracy on synthetic fax covers, per engine and fax resolution (R11, docs/rules.md).

Renders N varied Japanese fax covers (tests/faxgen.py: company, person, domain, customer number,
inquiry text, font, size, skew, noise) at 200x200 ('fine', as a G4 TIFF) and 200x100 ('standard',
as a G4 TIFF like a fax gateway and as a PDF like an MFP), reads each through
intake.fax.ocr.read_text with every installed engine, and prints, per engine and resolution:

* CER - character error rate, Levenshtein distance / reference length, on the text with all
  whitespace removed after NFKC (a full-width colon is not an error); "raw CER" skips the NFKC;
* s/page - wall seconds per page (the first page of each engine also loads its models and is
  counted separately as "start s");
* field hits - how often each field value is found verbatim in the OCR text after folding both
  (NFKC, dash-like characters between ASCII letters/digits -> '-', whitespace removed).

Usage: .venv/bin/python bench/ocr_accuracy.py [--pages 12] [--engines rapidocr,tesseract]
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import faxgen  # noqa: E402

from intake.fax import ocr  # noqa: E402

RESOLUTIONS = {
    "200x200 TIFF G4": ((200, 200), "tiff"),
    "200x100 TIFF G4": ((200, 100), "tiff"),
    "200x100 PDF": ((200, 100), "pdf"),
}
FIELDS = ("company", "person", "domain", "customer", "fax")


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insert, delete, substitute: cost 1 each), two-row dynamic programming."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def squeeze(text: str, nfkc: bool = True) -> str:
    if nfkc:
        text = unicodedata.normalize("NFKC", text)
    return "".join(text.split())


@dataclass
class Tally:
    pages: int = 0
    ref_chars: int = 0
    errors: int = 0
    raw_errors: int = 0
    seconds: float = 0.0
    start_seconds: float = 0.0
    worst: float = 0.0
    hits: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    misses: list[str] = field(default_factory=list)


def make_pages(count: int) -> list[tuple[faxgen.CoverFields, dict]]:
    """Cover values and rendering options (font, size, skew, noise) for ``count`` pages."""
    fonts = [faxgen.find_cjk_font()]
    mincho = "/usr/share/fonts/opentype/ipafont-mincho/ipam.ttf"
    if Path(mincho).is_file():
        fonts.append(mincho)
    pages = []
    for seed in range(count):
        rng = random.Random(1000 + seed)
        options = {
            "font_path": fonts[seed % len(fonts)],
            "font_pt": rng.choice((10.5, 11.0, 12.0, 13.0)),
            "skew": round(rng.uniform(-0.7, 0.7), 2),
            "noise": rng.choice((0.001, 0.002, 0.004)),
            "seed": seed,
        }
        pages.append((faxgen.cover_fields(seed), options))
    return pages


def run(count: int, engines: list[str], verbose: bool) -> dict[tuple[str, str], Tally]:
    pages = make_pages(count)
    results: dict[tuple[str, str], Tally] = {}
    for engine in engines:
        first = True
        for label, (dpi, container) in RESOLUTIONS.items():
            tally = results.setdefault((engine, label), Tally())
            for fields, options in pages:
                image = faxgen.render_fax_page(fields.lines(), dpi=dpi, **options)
                if container == "tiff":
                    data, ctype = faxgen.fax_tiff([image]), "image/tiff"
                else:
                    data, ctype = faxgen.fax_pdf([image]), "application/pdf"
                started = time.perf_counter()
                text = ocr.read_text(data, ctype, engine=engine) or ""
                elapsed = time.perf_counter() - started
                if first:
                    tally.start_seconds = elapsed
                    first = False
                else:
                    tally.seconds += elapsed
                    tally.pages += 1
                reference = "\n".join(fields.lines())
                ref = squeeze(reference)
                errors = levenshtein(ref, squeeze(text))
                tally.errors += errors
                tally.raw_errors += levenshtein(squeeze(reference, False), squeeze(text, False))
                tally.ref_chars += len(ref)
                tally.worst = max(tally.worst, errors / len(ref))
                folded = faxgen.fold(text)
                for name in FIELDS:
                    value = getattr(fields, name)
                    if faxgen.fold(value) in folded:
                        tally.hits[name] += 1
                    else:
                        tally.misses.append(f"{name}={value!r}")
                if verbose:
                    print(f"--- {engine} {label} {options}\n{text}\n", flush=True)
    return results


def table(results: dict[tuple[str, str], Tally], count: int) -> str:
    head = (
        "| engine | fax | CER (NFKC) | worst page | raw CER | s/page | start s "
        "| 社名 | 氏名 | ドメイン | 顧客番号 | FAX |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (engine, label), t in results.items():
        timed = max(1, t.pages)
        hits = " | ".join(f"{t.hits[name]}/{count}" for name in FIELDS)
        lines.append(
            f"| {engine} | {label} | {t.errors / t.ref_chars:.1%} | {t.worst:.1%} "
            f"| {t.raw_errors / t.ref_chars:.1%} | {t.seconds / timed:.2f} "
            f"| {f'{t.start_seconds:.2f}' if t.start_seconds else '-'} | {hits} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--engines", default=",".join(ocr.ENGINES))
    parser.add_argument("--verbose", action="store_true", help="print every OCR text")
    args = parser.parse_args()
    engines = [e for e in args.engines.split(",") if e and ocr.available_engine(e) == e]
    if not engines:
        sys.exit("no OCR engine installed (pip install rapidocr onnxruntime, or tesseract-ocr-jpn)")
    print(
        f"{args.pages} pages x {len(RESOLUTIONS)} resolutions; engines {engines}; "
        f"{platform.python_version()} on {platform.machine()}, fonts: "
        f"{sorted({Path(o['font_path']).name for _, o in make_pages(args.pages)})}",
        flush=True,
    )
    results = run(args.pages, engines, args.verbose)
    print(table(results, args.pages))
    for (engine, label), t in results.items():
        if t.misses:
            print(f"misses {engine} {label}: {', '.join(t.misses)}")


if __name__ == "__main__":
    main()
