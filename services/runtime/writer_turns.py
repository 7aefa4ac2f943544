"""Turns at SQLite's one writer within a process: first come, first served, except that
an urgent transaction goes ahead of every ordinary one still waiting.

The notifier's delivery loop is urgent: each SMTP connection commits the outcome of its
last email before it sends the next, so behind a backlog of consumer batches it would
send a few emails a second while thousands of alerts queue up. With its turns first,
and the consumer committing between messages while it waits
(:attr:`WriterTurns.urgent_waiting`), alerts go out while the backlog is still being read
(Kafka keeps what is not yet read).
"""

from __future__ import annotations

import asyncio
from collections import deque


class WriterTurns:
    """A lock with two queues. A released turn passes straight to the next waiter (the
    first urgent one, else the first ordinary one), so nobody can barge in between."""

    def __init__(self) -> None:
        self._taken = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._ordinary: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(not f.done() for f in (*self._urgent, *self._ordinary))

    @property
    def urgent_waiting(self) -> bool:
        """An urgent transaction waits: a long one should commit what it has and let it
        in (the consumer's batches do, between messages)."""
        return any(not f.done() for f in self._urgent)

    async def acquire(self, urgent: bool = False) -> None:
        if not self._taken and not self.waiting:
            self._taken = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._ordinary).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # handed the turn as it was cancelled: pass it on
            raise

    def release(self) -> None:
        for queue in (self._urgent, self._ordinary):
            while queue:
                turn = queue.popleft()
                if not turn.done():  # a waiter cancelled meanwhile is skipped
                    turn.set_result(None)
                    return
        self._taken = False
