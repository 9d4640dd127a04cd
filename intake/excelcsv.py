"""CSV as Excel opens it: UTF-8 with a BOM, CRLF line ends, a header row; a text cell Excel would
take for a formula (=, +, -, @, tab, CR) is prefixed with ``'`` (OWASP "CSV injection").

Shared by ``uketsuke report … --csv`` and the dashboard's CSV download. Pure.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

Cell = str | int | None
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def excel_csv(columns: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value
