"""Positive signs that the system has had its chance, for tests that check something
did not happen (no second email, nothing acknowledged): wait for these, then look.
Never a fixed sleep."""

from __future__ import annotations

from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import func, or_, select

from relay.status import gather
from schemas.catalogue import Topic
from schemas.messages import AlertState
from services.notifier.tables import alerts, attempts
from services.runtime.database import Database
from services.runtime.settings import RelaySettings

DUE_STATES = (AlertState.QUEUED.value, AlertState.TEMPORARY_FAILURE.value)


async def caught_up(settings: RelaySettings, service: str, topic: Topic) -> bool:
    """``service``'s consumers have committed every message on ``topic`` so far (an
    absent or empty topic too): whatever was published there, it has handled. Read as
    ``relay status`` reads lag, by a consumer of the group that joins nothing."""
    reader = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        group_id=f"{settings.topic_prefix}relay-{service}",
        enable_auto_commit=False,
    )
    await reader.start()
    try:
        name = settings.topic(topic.wire)
        ids = reader.partitions_for_topic(name) if name in await reader.topics() else None
        parts = [TopicPartition(name, p) for p in sorted(ids or ())]
        ends = await reader.end_offsets(parts) if parts else {}
        starts = await reader.beginning_offsets(parts) if parts else {}
        for tp in parts:
            done = await reader.committed(tp)
            if ends[tp] > (starts[tp] if done is None else done):
                return False
        return True
    finally:
        await reader.stop()


async def nothing_left_to_send(url: str) -> bool:
    """The notifier at ``url`` holds no alert due to be sent, none claimed (``sending``:
    perhaps already accepted by the server, and to go again once taken over) and no
    attempt under way: every email it was going to send by now is in the mailbox."""
    db = Database(url)
    try:
        async with db.transaction() as session:
            waiting = await session.scalar(
                select(func.count())
                .select_from(alerts)
                .where(
                    or_(
                        alerts.c.state == AlertState.SENDING.value,
                        alerts.c.state.in_(DUE_STATES) & (alerts.c.due_at <= datetime.now(UTC)),
                    )
                )
            )
            trying = await session.scalar(
                select(func.count()).select_from(attempts).where(attempts.c.outcome == "sending")
            )
    finally:
        await db.dispose()
    return waiting == 0 and trying == 0


async def pipeline_settled(settings: RelaySettings) -> bool:
    """A whole stack has done all it was given: twice in a row (a message between two
    stages when the first look passed them shows on the second), every consumer group has
    handled every topic, every outbox is published and the notifier has nothing left to
    send."""
    for _ in range(2):
        status = await gather(settings, datetime.now(UTC))
        if status.unreadable:
            return False
        if any(behind for topics in status.lag.values() for behind in topics.values()):
            return False
        if any(backlog is None or backlog.messages for backlog in status.outbox.values()):
            return False
        if not await nothing_left_to_send(settings.database_url_for("notifier")):
            return False
    return True
