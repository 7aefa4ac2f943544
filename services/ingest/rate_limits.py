"""Per-key rate limits of the ingest API: a police system stuck in a loop, or a stolen
key, cannot flood the pipeline or starve the other forces. Counted per process in a
moving window (the ``limits`` library, in memory); with N copies of ingest behind a load
balancer a key gets up to N times the limit (docs/security.md)."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter


class KeyRateLimits:
    def __init__(self, spec: str) -> None:
        self._limits: list[RateLimitItem] = parse_many(spec)  # checked by the settings
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def retry_after(self, key_id: str) -> tuple[int, str] | None:
        """None, and the request is counted, when every limit has room; otherwise the
        seconds until it has, and the limit that is full (the request is not counted)."""
        for item in self._limits:
            if not await self._limiter.test(item, key_id):
                stats = await self._limiter.get_window_stats(item, key_id)
                wait = max(1, math.ceil(stats.reset_time - time.time()))
                return wait, f"{item.amount} per {item.multiples} {item.GRANULARITY.name}"
        for item in self._limits:
            await self._limiter.hit(item, key_id)
        return None
