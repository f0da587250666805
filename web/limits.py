"""Per-client limits of the citizen page (issue 13, finding 8): one client must not hold every voice line, flood the
chat relay (every message costs Rasa CPU for all citizens) or open sockets without end.

A client is its address; behind the documented local reverse proxy (deploy/nginx), the address it forwarded.
"""
from __future__ import annotations

import time
from collections import Counter, deque
from contextlib import contextmanager
from typing import Callable, Iterator

from aiohttp import web


class RateLimiter:
    """At most `limit` events per `window_s` per key (sliding window, in memory, bounded)."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._hits: dict[str, deque] = {}

    def _recent(self, key: str) -> deque:
        now = self.clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if len(self._hits) > 20_000:  # forget idle clients
            self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - self.window_s}
            self._hits.setdefault(key, hits)
        return hits

    def blocked(self, key: str) -> bool:
        return len(self._recent(key)) >= self.limit

    def hit(self, key: str) -> bool:
        """Count one event; False when over the limit (then not counted)."""
        hits = self._recent(key)
        if len(hits) >= self.limit:
            return False
        hits.append(self.clock())
        return True

    def retry_after(self, key: str) -> int:
        hits = self._recent(key)
        return max(1, int(hits[0] + self.window_s - self.clock()) + 1) if hits else 1


class Concurrent:
    """At most `limit` things at a time per key (open sockets, calls)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def full(self, key: str) -> bool:
        return self._open[key] >= self.limit

    @contextmanager
    def holding(self, key: str) -> Iterator[None]:
        self._open[key] += 1
        try:
            yield
        finally:
            self._open[key] -= 1
            if self._open[key] <= 0:
                del self._open[key]

    def open(self, key: str) -> int:
        return self._open[key]


def client_key(request: web.Request) -> str:
    """The client's address; behind the documented local reverse proxy, the address it forwarded."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and request.remote in ("127.0.0.1", "::1"):
        return forwarded.split(",")[-1].strip() or (request.remote or "?")
    return request.remote or "?"
