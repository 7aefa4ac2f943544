"""Per-key rate limits of the ingest API (services/ingest/rate_limits.py): a moving
window per key and limit, on a clock the test moves."""

from __future__ import annotations

from services.ingest.rate_limits import KeyRateLimits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_full_window_refuses_until_its_oldest_hit_leaves_it() -> None:
    clock = Clock()
    limits = KeyRateLimits("3/minute", clock)
    for second in (0, 10, 20):
        clock.now = 1000.0 + second
        assert limits.retry_after("k1") is None
    clock.now = 1030.0
    assert limits.retry_after("k1") == (30, "3 per 1 minute")
    # A refused request is not counted: the first hit's leaving makes room for one.
    clock.now = 1059.5
    assert limits.retry_after("k1") == (1, "3 per 1 minute")
    clock.now = 1060.0
    assert limits.retry_after("k1") == (1, "3 per 1 minute")  # a minute to the instant: in
    clock.now = 1060.1
    assert limits.retry_after("k1") is None
    assert limits.retry_after("k1") == (10, "3 per 1 minute")


def test_each_key_has_its_own_allowance_and_every_limit_counts() -> None:
    clock = Clock()
    limits = KeyRateLimits("2/second;3/minute", clock)
    assert limits.retry_after("k1") is None
    assert limits.retry_after("k1") is None
    assert limits.retry_after("k1") == (1, "2 per 1 second")
    assert limits.retry_after("k2") is None  # another key
    clock.now += 1.5
    assert limits.retry_after("k1") is None
    clock.now += 1.5
    wait = limits.retry_after("k1")
    assert wait == (57, "3 per 1 minute")
    assert limits.retry_after("k2") is None
