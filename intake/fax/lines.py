"""OCR word boxes grouped into text lines in reading order (R11, docs/rules.md)."""

from __future__ import annotations

from collections.abc import Sequence


class Box:
    """One recognised text and its bounding box on the page (pixels)."""

    __slots__ = ("bottom", "left", "right", "text", "top")

    def __init__(self, left: float, top: float, right: float, bottom: float, text: str) -> None:
        self.left, self.top, self.right, self.bottom, self.text = left, top, right, bottom, text

    @property
    def height(self) -> float:
        return max(1.0, self.bottom - self.top)

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


def group_lines(boxes: Sequence[Box]) -> list[str]:
    """Group word boxes into lines by their vertical position, each line left to right.

    A box joins a line when its vertical middle falls inside the line's vertical extent (or the
    line's middle inside the box's). Boxes on one line are joined without a space when they touch
    and with one space when the gap is wider than half the line height.
    """
    rows: list[list[Box]] = []
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
