"""Spans of time as Japanese staff and operators read them: 45秒, 16分, 2時間5分, 3日4時間.

Pure: no I/O (the rule modules and the dashboard may use it).
"""

from __future__ import annotations


def span_ja(seconds: float) -> str:
    """``seconds`` rounded down to the unit people care about at that size."""
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds}秒"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}分"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}時間{minutes}分" if minutes else f"{hours}時間"
    days, hours = divmod(hours, 24)
    return f"{days}日{hours}時間" if hours else f"{days}日"
