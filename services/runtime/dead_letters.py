"""Dead letters on the broker (DESIGN §2): the letter for a message a consumer cannot
process, and the tools to list them and send them back to their topic once the cause is
fixed (``relay dlq list|retry``).

A letter's id is its place on the broker, ``<dlq topic>:<partition>:<offset>`` (the
topic without the deployment's prefix). Retried letters are recorded on the broker too,
in a marker topic, so a letter goes back once, whichever machine runs the command, and
nothing depends on the console or a database. Consumers de-duplicate on message id, so a
letter that had in fact been handled does no harm when it comes back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from schemas.catalogue import TOPICS, Topic
from schemas.messages import DeadLetterV1
from services.runtime.database import utcnow
from services.runtime.kafka import ensure_topic, security_options
from services.runtime.settings import RelaySettings

RETRIED_TOPIC = "dead-letters-retried.v1"
_ID = re.compile(r"^(?P<topic>[a-z0-9.\-]+\.dlq):(?P<partition>\d+):(?P<offset>\d+)$")


def dead_letter_for(service: str, topic: Topic, body: bytes, msg: Any, reason: str) -> DeadLetterV1:
    """The letter for a message ``service`` cannot process; ``msg`` is FastStream's
    message or the aiokafka record, which tell where it was. Its id is that place, so a
    message dead-lettered again (its batch redelivered) keeps its letter's id."""
    raw = getattr(msg, "raw_message", msg)
    key = getattr(raw, "key", None)
    offset = getattr(raw, "offset", None)
    partition = getattr(raw, "partition", None)
    return DeadLetterV1(
        message_id=f"dlq:{service}:{topic.wire}:{partition}:{offset}",
        topic=topic.wire,
        partition=partition,
        offset=offset,
        key=key.decode(errors="replace") if isinstance(key, bytes) else key,
        consumer=service,
        error=reason[:2000],
        failed_at=utcnow(),
        payload=body.decode(errors="replace")[:100_000],
    )


def validation_summary(exc: ValidationError) -> str:
    """Field names and messages only: the input may hold a child's details."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
        for e in exc.errors(include_url=False, include_input=False)[:5]
    )


class DeadLetterIdError(ValueError):
    """A letter id that is not ``<topic>.dlq:<partition>:<offset>``, or names none."""


@dataclass(frozen=True)
class LetterId:
    dlq: str  # e.g. "acknowledgements.v1.dlq"
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.dlq}:{self.partition}:{self.offset}"

    @classmethod
    def parse(cls, text: str) -> LetterId:
        match = _ID.match(text.strip())
        if match is None:
            raise DeadLetterIdError(
                f"{text!r} is not a dead letter id: write TOPIC.dlq:PARTITION:OFFSET, "
                "e.g. acknowledgements.v1.dlq:0:12 (see `relay dlq list`)"
            )
        dlqs = {t.dlq for t in TOPICS}
        if match["topic"] not in dlqs:
            raise DeadLetterIdError(
                f"{text!r}: {match['topic']} is not a dead-letter topic; one of "
                f"{', '.join(sorted(dlqs))}"
            )
        return cls(match["topic"], int(match["partition"]), int(match["offset"]))


@dataclass(frozen=True)
class Letter:
    id: LetterId
    letter: DeadLetterV1 | None  # None: the bytes on the dlq did not parse
    retried_at: datetime | None = None

    @property
    def topic(self) -> str:
        return self.letter.topic if self.letter else self.id.dlq.removesuffix(".dlq")


def dlq_topics(topic: str | None = None) -> list[str]:
    """The dead-letter topics of the catalogue (wire names), or the one for ``topic``
    (given as the topic or its dlq, e.g. ``acknowledgements.v1``)."""
    names = [t.dlq for t in TOPICS]
    if topic is None:
        return names
    wanted = topic if topic.endswith(".dlq") else f"{topic}.dlq"
    if wanted not in names:
        raise DeadLetterIdError(
            f"--topic {topic!r}: not a catalogue topic; one of {', '.join(t.wire for t in TOPICS)}"
        )
    return [wanted]


async def _read_all(
    settings: RelaySettings, wires: Iterable[str]
) -> list[tuple[str, int, int, bytes]]:
    """Every record now on these topics: ``(wire name, partition, offset, value)``.
    Reads up to the end offsets taken at the start; a missing topic is empty."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id="relay-dlq",
        **security_options(settings),
    )
    await consumer.start()
    try:
        existing = await consumer.topics()
        partitions: list[TopicPartition] = []
        for wire in wires:
            name = settings.topic(wire)
            if name in existing:
                ids = consumer.partitions_for_topic(name) or set()
                partitions += [TopicPartition(name, p) for p in sorted(ids)]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        pending = {tp for tp in partitions if ends[tp] > 0}
        records: list[tuple[str, int, int, bytes]] = []
        prefix = len(settings.topic_prefix)
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, items in batch.items():
                for record in items:
                    if record.offset < ends[tp]:
                        records.append(
                            (tp.topic[prefix:], tp.partition, record.offset, record.value)
                        )
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return records
    finally:
        await consumer.stop()


async def list_letters(
    settings: RelaySettings, topic: str | None = None, include_retried: bool = False
) -> list[Letter]:
    wires = dlq_topics(topic)
    retried = await _retried(settings)
    letters = []
    for wire, partition, offset, value in await _read_all(settings, wires):
        letter_id = LetterId(wire, partition, offset)
        try:
            letter: DeadLetterV1 | None = DeadLetterV1.model_validate_json(value)
        except ValidationError:
            letter = None
        at = retried.get(str(letter_id))
        if at is None or include_retried:
            letters.append(Letter(letter_id, letter, at))
    return letters


async def _retried(settings: RelaySettings) -> dict[str, datetime]:
    marks: dict[str, datetime] = {}
    for _wire, _p, _o, value in await _read_all(settings, [RETRIED_TOPIC]):
        mark = json.loads(value)
        marks.setdefault(mark["letter_id"], datetime.fromisoformat(mark["retried_at"]))
    return marks


async def retry(
    settings: RelaySettings, ids: list[LetterId] | None, topic: str | None = None
) -> list[Letter]:
    """Send letters back to their topics (``ids`` None: every letter not yet retried);
    returns the letters sent. An id that names no letter, or one retried before, is an
    error naming it; nothing is sent then."""
    waiting = {str(letter.id): letter for letter in await list_letters(settings, topic, True)}
    if ids is None:
        chosen = [letter for letter in waiting.values() if letter.retried_at is None]
    else:
        chosen = []
        for letter_id in ids:
            letter = waiting.get(str(letter_id))
            if letter is None:
                raise DeadLetterIdError(f"{letter_id}: no such dead letter (see `relay dlq list`)")
            if letter.retried_at is not None:
                raise DeadLetterIdError(
                    f"{letter_id}: already sent back on {letter.retried_at:%Y-%m-%d %H:%M} UTC"
                )
            if letter.letter is None:
                raise DeadLetterIdError(f"{letter_id}: the letter itself is unreadable")
            chosen.append(letter)
    chosen = [letter for letter in chosen if letter.letter is not None]
    if not chosen:
        return []
    await ensure_topic(settings, settings.topic(RETRIED_TOPIC))
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap,
        client_id="relay-dlq",
        enable_idempotence=False,  # the embedded broker does not support it
        acks="all",
        **security_options(settings),
    )
    await producer.start()
    try:
        for letter in chosen:
            assert letter.letter is not None
            payload = letter.letter.payload
            body = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            headers = [("content-type", b"application/json")]
            message_id = _message_id(body)
            if message_id:
                headers.append(("message_id", message_id.encode()))
            await producer.send_and_wait(
                settings.topic(letter.letter.topic),
                body,
                key=letter.letter.key.encode() if letter.letter.key else None,
                headers=headers,
            )
            mark = {"letter_id": str(letter.id), "retried_at": utcnow().isoformat()}
            await producer.send_and_wait(settings.topic(RETRIED_TOPIC), json.dumps(mark).encode())
    finally:
        await producer.stop()
    return chosen


def _message_id(body: bytes) -> str | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    found = value.get("message_id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None
