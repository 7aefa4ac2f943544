"""Dead letters on the routing path emailed to operations (issue 17), on the real broker,
database and SMTP server under a moved clock: a letter on episode-events.v1.dlq reaches
the policy's operations_email within the minute, not again that day (nor after a
restart), again the next day, and never once `relay dlq retry` has sent it back. A letter
on another topic's dlq is not emailed."""

from __future__ import annotations

import asyncio
import email.policy
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from relay.smtp_sink import SinkHandler
from schemas.catalogue import ACKNOWLEDGEMENTS, EPISODE_EVENTS
from schemas.messages import DeadLetterV1
from services.notifier.operations import OperationsNotices
from services.notifier.tables import dead_letters
from services.runtime.service import ServiceRuntime
from services.runtime.settings import RelaySettings
from tests.clock import MovableClock
from tests.conftest import eventually
from tests.integration.test_dead_letters import letters, relay
from tests.integration.test_notifier_delivery import notifier

OPERATIONS = "relay-support@council.example"
MONDAY = datetime(2026, 12, 7, 21, 5, tzinfo=UTC)


def letter(topic: str, at: datetime) -> DeadLetterV1:
    return DeadLetterV1(
        message_id=f"dlq:router:{topic}:0:5",
        topic=topic,
        partition=0,
        offset=5,
        key="10:MP/1",
        consumer="router",
        error="no responsible local authority for event 6f1c (2 local authorities imported, "
        "none named for this child)",
        failed_at=at,
        payload={"child": {"given_name": "Amelia", "family_name": "O'Neill"}},
    )


def notices_to(sink: SinkHandler, address: str) -> list[Any]:
    return [
        message_from_bytes(r.data, policy=email.policy.default)
        for r in sink.received
        if address in r.rcpt_tos
    ]


async def looked_again(notices: OperationsNotices) -> None:
    """Wake the notices and wait for a whole look begun after the clock moved (twice:
    the first look counted may have begun before)."""
    for _ in range(2):
        passes = notices.passes
        notices.wake()
        await eventually(lambda: notices.passes > passes, 30)  # noqa: B023 (waited on here)


async def resolved_at(app: FastAPI, letter_id: str) -> datetime | None:
    runtime: ServiceRuntime = app.state.runtime
    async with runtime.db.transaction() as session:
        value: datetime | None = await session.scalar(
            select(dead_letters.c.resolved_at).where(dead_letters.c.letter_id == letter_id)
        )
        return value


async def test_a_dead_letter_is_emailed_daily_to_operations_until_sent_back(
    settings: RelaySettings, smtp_server: tuple[str, SinkHandler], tmp_path: Path
) -> None:
    _, sink = smtp_server
    policy = tmp_path / "policy.toml"
    policy.write_text(f'operations_email = "{OPERATIONS}"\n', encoding="utf-8")
    settings = settings.model_copy(update={"policy_file": policy})
    clock = MovableClock(MONDAY)

    async with notifier(settings, clock=clock) as app:
        notices: OperationsNotices = app.state.operations
        runtime: ServiceRuntime = app.state.runtime
        for topic in (ACKNOWLEDGEMENTS, EPISODE_EVENTS):  # only the second is watched
            await runtime.broker.publish(
                letter(topic.wire, clock()).model_dump_json().encode(),
                topic=settings.topic(topic.dlq),
                key=b"10:MP/1",
            )
        [first] = await eventually(lambda: notices_to(sink, OPERATIONS), 60)
        letter_id = first["X-Relay-Dead-Letter"]
        # The id is the one `relay dlq` knows the letter by.
        listed = await asyncio.to_thread(letters, settings, "--topic", EPISODE_EVENTS.wire)
        assert [entry["id"] for entry in listed] == [letter_id]
        assert letter_id.startswith("episode-events.v1.dlq:")
        text = first.get_body(("plain",)).get_content()
        assert f"relay dlq retry {letter_id}" in text and "no responsible local authority" in text
        assert "Amelia" not in first.as_string() and "O'Neill" not in first.as_string()

        # The same day: nothing more, however often it looks.
        clock.advance(timedelta(hours=23))
        await looked_again(notices)
    assert len(notices_to(sink, OPERATIONS)) == 1 and len(sink.received) == 1

    # A restart the same day sends nothing again: the send was recorded.
    async with notifier(settings, clock=clock) as app:
        notices = app.state.operations
        await looked_again(notices)
        assert len(notices_to(sink, OPERATIONS)) == 1

        # A day after the first notice, the second, with a Message-ID of its own.
        clock.set(MONDAY + timedelta(days=1, minutes=1))
        notices.wake()
        await eventually(lambda: len(notices_to(sink, OPERATIONS)) == 2, 30)
        second = notices_to(sink, OPERATIONS)[1]
        assert second["X-Relay-Dead-Letter"] == letter_id
        assert second["Message-ID"] != first["Message-ID"] and "notice 2" in second["Subject"]

        # Sent back: no more notices, day after day.
        code, output = await asyncio.to_thread(relay, settings, "dlq", "retry", letter_id)
        assert code == 0 and "1 letter(s) sent back" in output, output
        await eventually(lambda: resolved_at(app, letter_id), 60)
        for _day in range(2):
            clock.advance(timedelta(days=1))
            await looked_again(notices)
        assert len(notices_to(sink, OPERATIONS)) == 2 and len(sink.received) == 2
