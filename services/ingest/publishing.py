"""Publishing accepted events straight to the broker, awaiting its acknowledgement: the
HTTP 202 must mean the broker has the event, so this path does not go through the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from faststream.kafka import KafkaBroker

DEFAULT_ACK_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: str
    message_id: str
    payload: bytes


class BrokerUnavailableError(Exception):
    """The broker did not take a message (an error, or no acknowledgement in time)."""


class DirectPublisher:
    def __init__(self, broker: KafkaBroker, ack_timeout_s: float = DEFAULT_ACK_TIMEOUT_S) -> None:
        self.broker = broker
        self.ack_timeout_s = ack_timeout_s

    async def send_all(self, messages: Sequence[Outgoing]) -> list[BaseException | None]:
        """Send every message, then await every acknowledgement; per message, None when
        the broker acknowledged it, else the error. Messages are handed to the producer
        one after another so that one episode's events keep their order on its partition;
        the acknowledgements are awaited together. The deadline bounds each wait with
        ``asyncio.timeout_at`` (no task a wait, as ``wait_for`` made), and one message's
        acknowledgement (the single-event endpoint's) is awaited without ``gather``
        (issue 18)."""
        if not messages:
            return []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ack_timeout_s
        pending: list[asyncio.Future[object] | BaseException] = []
        for message in messages:
            try:
                if deadline - loop.time() <= 0:
                    raise TimeoutError("no room in the producer in time")
                async with asyncio.timeout_at(deadline):
                    future = await self.broker.publish(
                        message.payload,
                        topic=message.topic,
                        key=message.key.encode(),
                        headers={
                            "message_id": message.message_id,
                            "content-type": "application/json",
                        },
                        no_confirm=True,
                    )
                # A late failure after we gave up must not warn "never retrieved".
                future.add_done_callback(_retrieve)  # type: ignore[union-attr]
                pending.append(future)  # type: ignore[arg-type]
            except Exception as exc:
                pending.append(BrokerUnavailableError(_describe(exc)))
        if len(pending) == 1:
            return [await _acknowledged(pending[0], deadline)]
        return list(await asyncio.gather(*(_acknowledged(item, deadline) for item in pending)))

    async def send(self, message: Outgoing) -> None:
        [error] = await self.send_all([message])
        if error is not None:
            raise error


async def _acknowledged(
    item: asyncio.Future[object] | BaseException, deadline: float
) -> BaseException | None:
    """None once the broker acknowledged ``item`` (by ``deadline``, the loop's time),
    else the error. The producer's future is shielded: giving up on it does not cancel
    the send."""
    if isinstance(item, BaseException):
        return item
    try:
        async with asyncio.timeout_at(deadline):
            await asyncio.shield(item)
    except Exception as exc:
        return BrokerUnavailableError(_describe(exc))
    return None


def _retrieve(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "the broker did not acknowledge in time"
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"
