"""Ingest's direct publisher (the 202 means the broker has the event): per message None
once the broker acknowledged it, else the error, within the acknowledgement timeout;
a send given up on is not cancelled."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from faststream.kafka import KafkaBroker

from services.ingest.publishing import BrokerUnavailableError, DirectPublisher, Outgoing


class _Broker:
    """Answers each publish as ``outcomes`` says: "ack", "nack", "never" (no answer), or
    "refuse" (the publish itself raises)."""

    def __init__(self, outcomes: list[str]) -> None:
        self.outcomes = outcomes
        self.futures: list[asyncio.Future[object]] = []
        self.sent: list[bytes] = []

    async def publish(self, payload: bytes, **_: Any) -> asyncio.Future[object]:
        outcome = self.outcomes[len(self.sent)]
        self.sent.append(payload)
        if outcome == "refuse":
            raise ConnectionError("no broker\nmore")
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        loop = asyncio.get_running_loop()
        if outcome == "ack":
            loop.call_later(0.01, future.set_result, object())
        elif outcome == "nack":
            loop.call_later(0.01, future.set_exception, RuntimeError("not leader"))
        return future


def _send(outcomes: list[str], timeout_s: float = 5.0) -> tuple[list[str | None], _Broker]:
    broker = _Broker(outcomes)
    publisher = DirectPublisher(cast(KafkaBroker, broker), ack_timeout_s=timeout_s)
    messages = [Outgoing("t", "k", f"m{n}", f"p{n}".encode()) for n in range(len(outcomes))]

    async def run() -> list[BaseException | None]:
        return await publisher.send_all(messages)

    errors = asyncio.run(run())
    assert all(e is None or isinstance(e, BrokerUnavailableError) for e in errors)
    return [None if e is None else str(e) for e in errors], broker


def test_one_event_acknowledged_or_not() -> None:
    assert _send(["ack"])[0] == [None]
    assert _send(["nack"])[0] == ["RuntimeError: not leader"]
    assert _send(["refuse"])[0] == ["ConnectionError: no broker"]
    errors, broker = _send(["never"], timeout_s=0.05)
    assert errors == ["the broker did not acknowledge in time"]
    assert not broker.futures[0].cancelled()  # given up on, not withdrawn


def test_a_batch_answers_per_message_in_order() -> None:
    errors, broker = _send(["ack", "refuse", "nack", "never", "ack"], timeout_s=0.2)
    assert errors == [
        None,
        "ConnectionError: no broker",
        "RuntimeError: not leader",
        "the broker did not acknowledge in time",
        None,
    ]
    assert broker.sent == [b"p0", b"p1", b"p2", b"p3", b"p4"]
    assert _send([])[0] == []
