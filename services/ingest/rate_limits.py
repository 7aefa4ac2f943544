"""Per-key rate limits of the ingest API: a police system stuck in a loop, or a stolen
key, cannot flood the pipeline or starve the other forces. Counted per process in a
moving window, in memory; with N copies of ingest behind a load balancer a key gets up
to N times the limit (docs/security.md).

The limits are written as the ``limits`` library reads them (``50/second;1000/minute``)
and parsed by it; the counting is here (issue 18). The library's asyncio memory storage
started a task and handed a list to a worker thread (``asyncio.to_thread``) to expire
old hits after nearly every request: about a fifth of ingest's CPU in
``relay bench pipeline``. Here each key keeps, for each limit, the times of its hits
still in the window, oldest first; a request drops the ones that left it.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from limits import parse_many


@dataclass(frozen=True)
class _Limit:
    amount: int
    seconds: float
    text: str  # as the 429's body names it: "3 per 1 minute"


class KeyRateLimits:
    """``spec``: limits joined by ';' (checked by the settings). ``clock``: seconds,
    monotonic."""

    def __init__(self, spec: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = [
            _Limit(
                item.amount,
                item.get_expiry(),
                f"{item.amount} per {item.multiples} {item.GRANULARITY.name}",
            )
            for item in parse_many(spec)
        ]
        self._clock = clock
        self._hits: dict[str, list[deque[float]]] = {}

    def retry_after(self, key_id: str) -> tuple[int, str] | None:
        """None, and the request is counted, when every limit has room; otherwise the
        seconds until it has, and the limit that is full (the request is not counted).
        A hit leaves a limit's window ``seconds`` after it was made, as in the library's
        moving window."""
        now = self._clock()
        windows = self._hits.get(key_id)
        if windows is None:
            windows = self._hits[key_id] = [deque() for _ in self._limits]
        for limit, hits in zip(self._limits, windows, strict=True):
            start = now - limit.seconds
            while hits and hits[0] < start:
                hits.popleft()
            if len(hits) >= limit.amount:
                return max(1, math.ceil(hits[0] + limit.seconds - now)), limit.text
        for hits in windows:
            hits.append(now)
        return None
