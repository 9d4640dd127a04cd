"""Inline SVG charts for the reports page, drawn on the server (no JavaScript, no library).

Each chart is an ``<svg role="img">`` with a ``<title>`` and scales to the page width (a
``viewBox``), so it reads on a phone; the page shows the same numbers as a table beside it for
screen readers. Every text drawn is escaped.
"""

from __future__ import annotations

from datetime import date, timedelta

from markupsafe import Markup, escape

BAR = "#1f5fbf"
WEEKEND = "#8fb0e0"
AXIS = "#5b6575"


def _ceiling(value: int) -> int:
    """A round top for the value axis: the first of 1, 2, 5, 10, 20, 50 … not below ``value``."""
    magnitude = 1
    while True:
        for mantissa in (1, 2, 5):
            if mantissa * magnitude >= value:
                return mantissa * magnitude
        magnitude *= 10


def per_day(first: date, counts: list[int], title: str) -> Markup:
    """Vertical bars, one per day of the month (Saturdays and Sundays lighter)."""
    width, height, left, bottom, top_pad = 720, 240, 36, 28, 12
    plot_w, plot_h = width - left - 8, height - bottom - top_pad
    top = _ceiling(max(counts, default=0))
    step = plot_w / max(len(counts), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - 8}" y2="{top_pad + plot_h}" '
        f'stroke="{AXIS}"/>',
    ]
    for value in sorted({0, top // 2 if top % 2 == 0 else 0, top}):
        y = top_pad + plot_h - plot_h * value / top
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="{AXIS}">{value}</text>'
        )
    for index, count in enumerate(counts):
        day = first + timedelta(days=index)
        bar_h = plot_h * count / top if top else 0
        x = left + index * step + step * 0.15
        colour = WEEKEND if day.weekday() >= 5 else BAR
        parts.append(
            f'<rect x="{x:.1f}" y="{top_pad + plot_h - bar_h:.1f}" width="{step * 0.7:.1f}" '
            f'height="{bar_h:.1f}" fill="{colour}"><title>{day.isoformat()}: {count}件'
            f"</title></rect>"
        )
        if day.day == 1 or day.day % 5 == 0:
            parts.append(
                f'<text x="{x + step * 0.35:.1f}" y="{height - 10}" font-size="11" '
                f'text-anchor="middle" fill="{AXIS}">{day.day}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def per_category(items: list[tuple[str, int]], title: str) -> Markup:
    """Horizontal bars, one per category, labelled in Japanese."""
    row, label_w, width = 26, 150, 720
    height = row * max(len(items), 1) + 8
    top = max((count for _, count in items), default=0) or 1
    plot_w = width - label_w - 60
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for index, (label, count) in enumerate(items):
        y = 4 + index * row
        bar_w = plot_w * count / top
        parts.append(
            f'<text x="{label_w - 6}" y="{y + row * 0.65:.1f}" font-size="13" '
            f'text-anchor="end" fill="#1d2430">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{bar_w:.1f}" height="{row - 8}" '
            f'fill="{BAR}"/>'
            f'<text x="{label_w + bar_w + 6:.1f}" y="{y + row * 0.65:.1f}" font-size="13" '
            f'fill="#1d2430">{count}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


MISSED = "#c62828"


def met_and_missed(items: list[tuple[str, int, int]], title: str) -> Markup:
    """Response targets, one row each: first answers within target (blue), then due times
    missed (red), end to end, with both numbers written after the bars."""
    row, label_w, width = 26, 220, 720
    height = row * max(len(items), 1) + 8
    top = max((met + missed for _, met, missed in items), default=0) or 1
    plot_w = width - label_w - 140
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for index, (label, met, missed) in enumerate(items):
        y = 4 + index * row
        met_w, missed_w = plot_w * met / top, plot_w * missed / top
        parts.append(
            f'<text x="{label_w - 6}" y="{y + row * 0.65:.1f}" font-size="13" '
            f'text-anchor="end" fill="#1d2430">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{met_w:.1f}" height="{row - 8}" '
            f'fill="{BAR}"><title>目標内 {met}件</title></rect>'
            f'<rect x="{label_w + met_w:.1f}" y="{y + 4}" width="{missed_w:.1f}" '
            f'height="{row - 8}" fill="{MISSED}"><title>超過 {missed}件</title></rect>'
            f'<text x="{label_w + met_w + missed_w + 6:.1f}" y="{y + row * 0.65:.1f}" '
            f'font-size="13" fill="#1d2430">目標内 {met} / 超過 {missed}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
