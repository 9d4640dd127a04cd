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


class Backoff:
    """Failed attempts per key in a sliding ``window``, with a lock-out that grows (thread-safe).

    The ``limit``-th failure in the window locks the key for ``first`` seconds, and each one
    after it (once the lock is over: a locked key's attempts are refused unchecked) for twice
    as long as the last, at most ``longest``; :meth:`locked` says how long is left. :meth:`fail`
    says when a failure *starts* a lock-out (the ``limit``-th: to log it once; later ones
    lengthen it), :meth:`announce` when a refused attempt is the first of its lock-out.
    """

    def __init__(
        self, window: float = 15 * 60, first: float = 60.0, longest: float = 15 * 60
    ) -> None:
        self.window, self.first, self.longest = window, first, longest
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}
        self._until: dict[str, float] = {}
        self._announced: set[str] = set()

    def _recent(self, key: str, at: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and at - failures[0] > self.window:
            failures.popleft()
        return failures

    def locked(self, key: str) -> float:
        """Seconds left of the key's lock-out (0: not locked)."""
        with self._lock:
            return max(0.0, self._until.get(key, 0.0) - time.monotonic())

    def count(self, key: str) -> int:
        with self._lock:
            return len(self._recent(key, time.monotonic()))

    def fail(self, key: str, limit: int) -> bool:
        """Record a failure; True when it starts a lock-out."""
        at = time.monotonic()
        with self._lock:
            if len(self._failures) > 10_000:  # forget keys whose failures are all old
                old = [k for k, v in self._failures.items() if not v or at - v[-1] > self.window]
                for stale in old:
                    self._failures.pop(stale, None)
                    if self._until.get(stale, 0.0) <= at:
                        self._until.pop(stale, None)
                        self._announced.discard(stale)
            failures = self._recent(key, at)
            failures.append(at)
            self._failures[key] = failures
            if len(failures) < limit:
                return False
            delay = min(self.longest, self.first * 2 ** min(len(failures) - limit, 20))
            self._until[key] = max(self._until.get(key, 0.0), at + delay)
            starts = len(failures) == limit  # later ones lengthen the same lock-out
            if starts:
                self._announced.discard(key)
            return starts

    def announce(self, key: str) -> bool:
        """True the first time it is asked during the key's current lock-out."""
        with self._lock:
            if key in self._announced:
                return False
            self._announced.add(key)
            return True

    def reset(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
            self._until.pop(key, None)
            self._announced.discard(key)
