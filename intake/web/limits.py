"""Rate limits of the web doors (R30): per address and per IP, a sliding window in memory.

One daemon serves the web, so a limit in its memory is exact; with several instances behind a
proxy each keeps its own count (the limit is then per instance). Thread-safe (waitress threads).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class RateLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str, limit: int, window: float = 3600.0) -> bool:
        """Record one hit of ``key``; False when it is over ``limit`` hits in ``window``."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits[key]
            while hits and now - hits[0] > window:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(now)
            return True

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)
