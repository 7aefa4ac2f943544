"""The broker: FastStream's KafkaBroker with this service's settings, topic creation,
and the publisher the outbox relay uses."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

from schemas.catalogue import TOPICS
from services.runtime.settings import RelaySettings

log = logging.getLogger(__name__)


def create_broker(settings: RelaySettings, client_id: str) -> KafkaBroker:
    # Idempotent producers are off: the embedded Tansu broker does not support them, and
    # every consumer de-duplicates on message id anyway.
    return KafkaBroker(
        settings.bootstrap,
        client_id=client_id,
        enable_idempotence=False,
        acks="all",
        graceful_timeout=30.0,
        log_level=logging.DEBUG,  # per-message "Received"/"Processed" lines: debug only
        logger=logging.getLogger(f"relay.{client_id}.kafka"),
    )


def wire_names(settings: RelaySettings) -> list[str]:
    names: list[str] = []
    for topic in TOPICS:
        names += [settings.topic(topic.wire), settings.topic(topic.dlq)]
    return names


async def ensure_topics(settings: RelaySettings, timeout_s: float = 60.0) -> None:
    """Create every catalogue topic and its dead-letter twin; waits for the broker."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, client_id="relay-admin")
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [name for name in wire_names(settings) if name not in existing]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):  # a racing copy made it
                    await admin.create_topics(
                        [NewTopic(name, settings.partitions, 1) for name in missing]
                    )
            return
        except (KafkaError, OSError) as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(
                    f"Kafka at {settings.bootstrap} did not answer within {timeout_s:.0f}s"
                ) from exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


async def ensure_topic(settings: RelaySettings, name: str, partitions: int = 1) -> None:
    """Create one topic (a full wire name) outside the catalogue if it is missing."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, client_id="relay-admin")
    await admin.start()
    try:
        if name not in set(await admin.list_topics()):
            with contextlib.suppress(TopicAlreadyExistsError):  # a racing copy made it
                await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


class BrokerPublisher:
    """Sends one message and returns once the broker acknowledged it."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def send(
        self, topic: str, key: str | None, payload: bytes, headers: dict[str, str]
    ) -> None:
        await self._broker.publish(
            payload,
            topic=topic,
            key=key.encode() if key else None,
            headers={**headers, "content-type": "application/json"},
        )
