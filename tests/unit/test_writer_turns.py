"""Turns at SQLite's writer: urgent waiters first, each queue in order, a cancelled
waiter never holds the others up."""

from __future__ import annotations

import asyncio

import pytest

from services.runtime.writer_turns import WriterTurns


async def _queue(turns: WriterTurns, order: list[str], name: str, urgent: bool) -> None:
    await turns.acquire(urgent)
    order.append(name)
    await asyncio.sleep(0)  # hold the turn across a switch, as a transaction does
    turns.release()


async def test_urgent_waiters_go_ahead_of_ordinary_ones_each_in_arrival_order() -> None:
    turns, order = WriterTurns(), []
    await turns.acquire()
    tasks = [
        asyncio.create_task(_queue(turns, order, name, urgent))
        for name, urgent in [("a", False), ("b", False), ("U1", True), ("c", False), ("U2", True)]
    ]
    await asyncio.sleep(0)
    assert turns.waiting == 5
    turns.release()
    await asyncio.gather(*tasks)
    assert order == ["U1", "U2", "a", "b", "c"]
    assert turns.waiting == 0


async def test_a_released_turn_passes_on_so_a_newcomer_cannot_barge_in() -> None:
    turns, order = WriterTurns(), []
    await turns.acquire()
    waiter = asyncio.create_task(_queue(turns, order, "waiter", False))
    await asyncio.sleep(0)
    turns.release()
    newcomer = asyncio.create_task(_queue(turns, order, "newcomer", True))
    await asyncio.gather(waiter, newcomer)
    assert order == ["waiter", "newcomer"]


async def test_a_cancelled_waiter_is_skipped_and_the_lock_ends_free() -> None:
    turns, order = WriterTurns(), []
    await turns.acquire()
    gone = asyncio.create_task(turns.acquire(urgent=True))
    after = asyncio.create_task(_queue(turns, order, "after", False))
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    turns.release()
    await after
    assert order == ["after"]
    await asyncio.wait_for(turns.acquire(), timeout=1)  # free again, nobody holds it


async def test_a_waiter_cancelled_as_it_is_handed_the_turn_passes_it_on() -> None:
    turns, order = WriterTurns(), []
    await turns.acquire()
    handed = asyncio.create_task(turns.acquire())
    after = asyncio.create_task(_queue(turns, order, "after", False))
    await asyncio.sleep(0)
    turns.release()  # the turn goes to ``handed``, which is cancelled before it runs
    handed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handed
    await asyncio.wait_for(after, timeout=1)
    assert order == ["after"]
