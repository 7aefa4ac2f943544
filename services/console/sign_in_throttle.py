"""Failed sign-ins slow a password guesser down: after 10 failures for one account, or
30 from one address, within 15 minutes, that account or address is refused (even with
the right password) until the window has room. Counted per process, in memory."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

PER_ACCOUNT = parse("10 per 15 minutes")
PER_ADDRESS = parse("30 per 15 minutes")


class SignInThrottle:
    def __init__(
        self, per_account: RateLimitItem = PER_ACCOUNT, per_address: RateLimitItem = PER_ADDRESS
    ) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._limits = (("account", per_account), ("address", per_address))

    async def wait_s(self, username: str, address: str) -> int | None:
        """Seconds until this account and address may try again; None: they may now."""
        for (kind, item), key in zip(self._limits, (username, address), strict=True):
            if not await self._limiter.test(item, kind, key):
                stats = await self._limiter.get_window_stats(item, kind, key)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None

    async def failed(self, username: str, address: str) -> None:
        for (kind, item), key in zip(self._limits, (username, address), strict=True):
            await self._limiter.hit(item, kind, key)
