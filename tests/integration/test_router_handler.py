"""The episode-event handler on the real database with a fake outbox: repeat missing is
counted from the router's own episodes and flagged once per episode."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from schemas.catalogue import ALERTS_REQUESTED, Topic
from schemas.episode import EpisodeEventV1
from schemas.messages import AlertKind, AlertRequestedV1
from services.router import repository
from services.router.handlers import on_episode_event
from services.runtime.database import Database
from services.runtime.migrations import upgrade

NLD = "E06000057"
AT = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)


class FakeOutbox:
    def __init__(self) -> None:
        self.sent: list[tuple[Topic, str | None, BaseModel]] = []

    async def publish(self, topic: Topic, key: str | None, message: BaseModel) -> None:
        self.sent.append((topic, key, message))


def reported(episode_ref: str, at: datetime, **extra: Any) -> EpisodeEventV1:
    return EpisodeEventV1.model_validate(
        {
            "message_id": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
            "type": "reported",
            "occurred_at": at.isoformat(),
            "force_code": "10",
            "episode_ref": episode_ref,
            "child": {"given_name": "Mia", "family_name": "Khan", "date_of_birth": "2012-01-02"},
            "accepted_at": at.isoformat(),
            "source": "test",
            "risk": {"grade": "low"},
            **extra,
        }
    )


async def test_third_episode_in_90_days_flags_repeat_missing_once(
    database_url: Callable[[str], str],
) -> None:
    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url)
    db = Database(url)
    try:
        async with db.transaction() as session:
            await repository.upsert_organisations(
                session,
                [
                    {
                        "code": NLD,
                        "kind": "local-authority",
                        "name": "Northumberland",
                        "email": "mc@n.example",
                        "escalation_email": None,
                        "phone": None,
                        "la_code": NLD,
                    },
                    {
                        "code": "MSET-NLD",
                        "kind": "mset-panel",
                        "name": "MSET",
                        "email": "mset@n.example",
                        "escalation_email": None,
                        "phone": None,
                        "la_code": NLD,
                    },
                ],
            )

        async def handle(e: EpisodeEventV1) -> list[AlertRequestedV1]:
            out = FakeOutbox()
            async with db.transaction() as session:
                await on_episode_event(session, e, out)  # type: ignore[arg-type]
            assert all(key == e.episode_key for _, key, _ in out.sent)
            return [m for topic, _, m in out.sent if topic is ALERTS_REQUESTED]  # type: ignore[misc]

        def repeats(alerts: list[AlertRequestedV1]) -> list[str]:
            return [a.recipient.code for a in alerts if a.kind is AlertKind.REPEAT_MISSING]

        assert repeats(await handle(reported("MP/1", AT - timedelta(days=60)))) == []
        assert repeats(await handle(reported("MP/2", AT - timedelta(days=20)))) == []
        third = await handle(reported("MP/3", AT))
        assert repeats(third) == ["MSET-NLD"]
        assert {a.recipient.code for a in third} == {NLD, "MSET-NLD"}
        # One child across the three episodes (the person index), named on every alert.
        assert len({a.child_id for a in third}) == 1 and third[0].child_id is not None
        # Police re-send the report of the same episode under a new event id: not again.
        assert repeats(await handle(reported("MP/3", AT + timedelta(hours=1)))) == []
        # A fourth episode within 90 days of two others is flagged in its own right.
        assert repeats(await handle(reported("MP/4", AT + timedelta(days=1)))) == ["MSET-NLD"]
    finally:
        await db.dispose()
