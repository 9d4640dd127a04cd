"""HTML-only mail to text, with a library (html2text); table rows become ``label value`` lines.

R1 reads fields from label/value rows, so each cell is followed by a space before the library
joins the cells of a row.
"""

from __future__ import annotations

import re

import html2text

_CELL_END = re.compile(r"(?i)</t[dh]\s*>")
_TRAILING = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_links = True
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_tables = True
    converter.unicode_snob = True
    try:
        text = converter.handle(_CELL_END.sub(lambda m: " " + m.group(0), html))
    except Exception:  # noqa: BLE001 - a broken page must not lose the mail (R29)
        text = re.sub(r"<[^>]*>", " ", html)
    return _BLANK_RUNS.sub("\n\n", _TRAILING.sub("", text)).strip("\n") + "\n"
