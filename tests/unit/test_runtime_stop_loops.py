"""A stopping service ends its background loops; one that will not end is named in the
log with where it waits, and the stop goes on (SIGTERM never hangs on a loop)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.runtime.service import stop_loops


async def _sleeps() -> None:
    await asyncio.sleep(3600)


async def _ignores_cancel_in_close() -> None:
    try:
        await asyncio.sleep(3600)
    finally:
        await _close_that_never_ends()


async def _close_that_never_ends() -> None:
    # What a client's close waiting on a reply that will not come looks like.
    await asyncio.shield(asyncio.get_running_loop().create_future())


async def test_cancelled_loops_end_and_nothing_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    tasks = [asyncio.create_task(_sleeps(), name="svc-a"), asyncio.create_task(_sleeps())]
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR):
        await stop_loops("svc", tasks, timeout_s=5)
    assert all(t.cancelled() for t in tasks)
    assert caplog.records == []


async def test_a_loop_that_does_not_end_is_logged_and_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stuck = asyncio.create_task(_ignores_cancel_in_close(), name="svc-retention")
    fine = asyncio.create_task(_sleeps(), name="svc-watch")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR):
        await asyncio.wait_for(stop_loops("svc", [stuck, fine], timeout_s=0.2), timeout=5)
    assert fine.cancelled() and not stuck.done()
    [record] = caplog.records
    message = record.getMessage()
    assert "svc: loop svc-retention did not stop within 0.2 s" in message
    assert "_ignores_cancel_in_close > _close_that_never_ends" in message
    stuck.cancel()
    await asyncio.gather(stuck, return_exceptions=True)
