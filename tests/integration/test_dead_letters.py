"""Dead letters on the real broker: an acknowledgement for an alert the notifier does not
know yet is dead-lettered; `relay dlq list` shows it (no payload); once the alert exists,
`relay dlq retry ID` sends it back and the notifier acknowledges the alert; a second
retry of the same letter is refused, and the list no longer shows it."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from relay.cli import app as relay_cli
from schemas.catalogue import ACKNOWLEDGEMENTS, ALERTS_REQUESTED
from schemas.messages import AcknowledgementV1, OrgKind
from services.runtime.dead_letters import DeadLetterIdError, LetterId, dlq_topics
from services.runtime.settings import RelaySettings
from tests.conftest import eventually
from tests.integration.test_notifier_delivery import (
    alert_rows,
    episode,
    notifier,
    publish,
    request,
)


def relay(settings: RelaySettings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        relay_cli,
        list(args),
        env={
            "RELAY_KAFKA_BOOTSTRAP": settings.bootstrap,
            "RELAY_TOPIC_PREFIX": settings.topic_prefix,
        },
    )
    return result.exit_code, result.output


def letters(settings: RelaySettings, *extra: str) -> list[dict[str, Any]]:
    code, output = relay(settings, "dlq", "list", "--json", *extra)
    assert code == 0, output
    return list(json.loads(output))


async def test_a_dead_letter_is_listed_and_sent_back_once_the_cause_is_fixed(
    settings: RelaySettings,
) -> None:
    message = request(episode(), "100001", OrgKind.SCHOOL, "dsl@hillside.example")
    ack = AcknowledgementV1(
        message_id=uuid.uuid4().hex,
        alert_id=message.alert_id,
        acknowledged_at=datetime.now(UTC),
        by="dsl",
    )
    async with notifier(settings) as app:
        assert await asyncio.to_thread(letters, settings) == []
        # The acknowledgement overtakes its alert (say, a replay in the wrong order).
        await publish(app, settings, ACKNOWLEDGEMENTS, message.alert_id, ack)
        listed = await eventually(lambda: asyncio.to_thread(letters, settings), 60)
        [letter] = listed
        assert letter["topic"] == ACKNOWLEDGEMENTS.wire and letter["consumer"] == "notifier"
        assert "unknown alert" in letter["error"] and letter["retried_at"] is None
        assert letter["id"].startswith("acknowledgements.v1.dlq:")
        assert "dsl" not in json.dumps(listed)  # no payload, only where and why

        # The cause is fixed: the alert arrives. Then the letter goes back, once.
        await publish(app, settings, ALERTS_REQUESTED, "k", message)
        await eventually(lambda: _state(app, message.alert_id), 60)
        code, output = await asyncio.to_thread(relay, settings, "dlq", "retry", letter["id"])
        assert code == 0 and "1 letter(s) sent back" in output, output

        async def acknowledged() -> bool:
            return await _state(app, message.alert_id) == "acknowledged"

        await eventually(acknowledged, 60)
        code, output = await asyncio.to_thread(relay, settings, "dlq", "retry", letter["id"])
        assert code == 1 and "already sent back" in output
        assert await asyncio.to_thread(letters, settings) == []
        [again] = await asyncio.to_thread(letters, settings, "--all")
        assert again["id"] == letter["id"] and again["retried_at"]
        code, output = await asyncio.to_thread(relay, settings, "dlq", "retry", "--all")
        assert code == 0 and "0 letter(s) sent back" in output


async def _state(app: Any, alert_id: str) -> str | None:
    row = (await alert_rows(app)).get(alert_id)
    return row.state if row is not None else None


def test_letter_ids_and_topics_are_checked_with_the_problem_named() -> None:
    assert str(LetterId.parse("alert-status.v1.dlq:2:17")) == "alert-status.v1.dlq:2:17"
    for bad, words in [
        ("alert-status.v1:2:17", "not a dead letter id"),
        ("nonsense.v1.dlq:0:1", "not a dead-letter topic"),
        ("alert-status.v1.dlq:x:1", "TOPIC.dlq:PARTITION:OFFSET"),
    ]:
        with pytest.raises(DeadLetterIdError, match=words):
            LetterId.parse(bad)
    assert dlq_topics("acknowledgements.v1") == ["acknowledgements.v1.dlq"]
    with pytest.raises(DeadLetterIdError, match="--topic 'acks'"):
        dlq_topics("acks")


async def test_data_the_database_refuses_is_dead_lettered_not_retried_for_ever(
    settings: RelaySettings,
) -> None:
    """A NUL in an organisation's name (PostgreSQL stores no NUL; SQLite does) is a
    message no retry can store: it goes to the dead letters, and the partition moves on
    to the next alert."""
    ep = episode()
    poisoned = request(ep, "100001", OrgKind.SCHOOL, "dsl@hillside.example")
    poisoned = poisoned.model_copy(
        update={"recipient": poisoned.recipient.model_copy(update={"name": "Hill\x00side"})}
    )
    after = request(ep, "A81001", OrgKind.GP_PRACTICE, "safeguarding@surgery.example")
    async with notifier(settings) as app:
        for message in (poisoned, after):
            await publish(app, settings, ALERTS_REQUESTED, "one-partition", message)
        await eventually(lambda: _state(app, after.alert_id), 60)
        if app.state.runtime.db.engine.dialect.name != "postgresql":
            return  # SQLite keeps the NUL: the alert is simply stored
        [letter] = await eventually(lambda: asyncio.to_thread(letters, settings), 60)
        assert letter["topic"] == ALERTS_REQUESTED.wire
        assert letter["error"] == "refused by the database: SQLSTATE 22021"
        assert await _state(app, poisoned.alert_id) is None
