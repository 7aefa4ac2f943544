"""The console on the real broker and database: episode, alerts and their states, and
dead letters, published to the topics, show up on the pages a person reads."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from schemas.base import derived_id
from schemas.catalogue import ALERT_STATUS, ALERTS_REQUESTED, EPISODE_EVENTS
from schemas.episode import EpisodeEventV1, EventType, episode_message_id
from schemas.messages import (
    AlertKind,
    AlertRequestedV1,
    AlertState,
    AlertStatusV1,
    ChildSummaryV1,
    DeadLetterV1,
    EpisodeRefV1,
    OrgKind,
    RecipientV1,
)
from services.console.accounts import Role
from services.console.app import create_app
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.conftest import eventually
from tests.console_login import add_user, sign_in

REPORTED_AT = datetime(2025, 3, 1, 22, 0, tzinfo=UTC)
RECIPIENTS = [
    RecipientV1(
        code="100001", kind=OrgKind.SCHOOL, name="Hillside Academy", email="dsl@hillside.example"
    ),
    RecipientV1(
        code="A81001",
        kind=OrgKind.GP_PRACTICE,
        name="Riverside Surgery",
        email="gp@riverside.example",
    ),
]


async def test_episode_alerts_and_dead_letters_appear_on_the_console(
    settings: RelaySettings,
) -> None:
    await asyncio.to_thread(upgrade, "console", settings.database_url_for("console"))
    ref = f"NB-{uuid.uuid4().hex[:6]}"
    event = EpisodeEventV1.model_validate(
        {
            "message_id": episode_message_id("10", f"{ref}-1"),
            "event_id": f"{ref}-1",
            "type": "reported",
            "occurred_at": REPORTED_AT,
            "force_code": "10",
            "episode_ref": ref,
            "child": {
                "given_name": "Tallulah",
                "family_name": "Featherstonehaugh",
                "date_of_birth": "2010-07-19",
                "nhs_number": "9434765919",
            },
            "risk": {"grade": "medium"},
            "accepted_at": REPORTED_AT,
            "source": "test",
        }
    )
    episode = EpisodeRefV1(
        force_code="10",
        episode_ref=ref,
        event_id=event.event_id,
        event_message_id=event.message_id,
        event_type=EventType.REPORTED,
        occurred_at=REPORTED_AT,
    )
    alerts = [
        AlertRequestedV1(
            message_id=derived_id(event.message_id, r.code, "reported"),
            alert_id=derived_id(event.message_id, r.code, "reported"),
            kind=AlertKind.REPORTED,
            recipient=r,
            child=ChildSummaryV1(
                given_name="Tallulah",
                family_name="Featherstonehaugh",
                date_of_birth=date(2010, 7, 19),
            ),
            episode=episode,
            reason="on roll",
            policy_rule="reported",
            requested_at=REPORTED_AT,
        )
        for r in RECIPIENTS
    ]
    school, gp = alerts

    def state(alert: AlertRequestedV1, value: AlertState, minutes: int) -> AlertStatusV1:
        return AlertStatusV1(
            message_id=f"{alert.alert_id}:{value.value}",
            alert_id=alert.alert_id,
            state=value,
            kind=alert.kind,
            recipient_code=alert.recipient.code,
            recipient_kind=alert.recipient.kind,
            force_code="10",
            episode_ref=ref,
            event_message_id=event.message_id,
            at=REPORTED_AT + timedelta(minutes=minutes),
        )

    app = create_app(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap)
    async with app.router.lifespan_context(app):
        await producer.start()
        try:

            async def send(wire: str, key: str, message: BaseModel) -> None:
                await producer.send_and_wait(
                    settings.topic(wire), message.model_dump_json().encode(), key=key.encode()
                )

            # Status first: the console must cope with any order across topics.
            await send(ALERT_STATUS.wire, school.alert_id, state(school, AlertState.SENT, 2))
            await send(ALERT_STATUS.wire, school.alert_id, state(school, AlertState.QUEUED, 1))
            await send(ALERT_STATUS.wire, gp.alert_id, state(gp, AlertState.TEMPORARY_FAILURE, 3))
            for alert in alerts:
                await send(ALERTS_REQUESTED.wire, event.episode_key, alert)
            await send(EPISODE_EVENTS.wire, event.episode_key, event)
            # Another service's dead letter, and one the console makes itself.
            await send(
                EPISODE_EVENTS.dlq,
                event.episode_key,
                DeadLetterV1(
                    message_id=f"dlq:router:{EPISODE_EVENTS.wire}:0:41",
                    topic=EPISODE_EVENTS.wire,
                    partition=0,
                    offset=41,
                    key=event.episode_key,
                    consumer="router",
                    error="no responsible authority could be found",
                    failed_at=REPORTED_AT,
                ),
            )
            await producer.send_and_wait(settings.topic(ALERT_STATUS.wire), b'{"not": "a status"}')
        finally:
            await producer.stop()

        await add_user(app, "chair", Role.MSET_CHAIR)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://console"
        ) as client:
            assert (await sign_in(client, "chair")).status_code == 303

            async def shown() -> dict | None:  # type: ignore[type-arg]
                data = (await client.get("/api/episodes")).json()
                mine = [e for e in data["episodes"] if e["episode_ref"] == ref]
                if not mine or not mine[0]["events"] or data["counts"]["dead_letters"] < 2:
                    return None
                states = {a["recipient"]["name"]: a["state"] for a in mine[0]["alerts"]}
                return (
                    mine[0]
                    if states
                    == {"Hillside Academy": "sent", "Riverside Surgery": "temporary-failure"}
                    else None
                )

            found = await eventually(shown, 90)
            assert found["risk_grade"] == "medium"
            assert found["child"] == {"initials": "T.F.", "birth_year": 2010}
            assert [e["type"] for e in found["events"]] == ["reported"]

            page = (await client.get("/")).text
            assert f"10 / {ref}" in page
            assert "Hillside Academy" in page and "Riverside Surgery" in page
            assert "Sent" in page and "Temporary failure" in page
            assert "T.F. (born 2010)" in page

            letters = (await client.get("/dead-letters")).text
            assert "no responsible authority could be found" in letters
            assert "does not match AlertStatusV1" in letters

            alert_page = (await client.get(f"/alerts/{school.alert_id}")).text
            assert "Hillside Academy" in alert_page and ref in alert_page

            for text in (page, letters, alert_page):
                for secret in ("Tallulah", "Featherstonehaugh", "2010-07-19", "9434765919"):
                    assert secret not in text
