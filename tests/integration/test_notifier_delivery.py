"""The notifier on the real broker, database (SQLite or PostgreSQL) and SMTP server:
each requested alert reaches its recipient exactly once, a repeat request sends nothing,
an RHI task is due 72 h after return, and an absent SMTP server is retried under a moved
clock until the alert is delivered once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from pydantic import BaseModel
from typer.testing import CliRunner

from relay.cli import app as relay_cli
from relay.embedded import free_port
from relay.smtp_sink import SinkHandler, start_sink
from schemas.base import derived_id
from schemas.catalogue import (
    ACKNOWLEDGEMENTS,
    ALERT_STATUS,
    ALERTS_REQUESTED,
    RHI_TASK_STATUS,
    RHI_TASKS_REQUESTED,
    Topic,
)
from schemas.episode import EventType, PoliceContactV1
from schemas.messages import (
    AcknowledgementV1,
    AlertKind,
    AlertRequestedV1,
    ChildSummaryV1,
    EpisodeRefV1,
    OrgKind,
    RecipientV1,
    RhiTaskRequestedV1,
)
from services.notifier import repository
from services.notifier.app import create_app
from services.notifier.scheduler import DeliveryScheduler
from services.runtime.kafka import group_options
from services.runtime.migrations import upgrade
from services.runtime.service import ServiceRuntime
from services.runtime.settings import RelaySettings
from tests.conftest import eventually

CHILD = ChildSummaryV1(given_name="Amelia", family_name="O'Neill", date_of_birth=date(2013, 4, 7))
RETURNED_AT = datetime(2026, 11, 20, 18, 30, tzinfo=UTC)


def episode(
    event_type: EventType = EventType.REPORTED, occurred_at: datetime = RETURNED_AT
) -> EpisodeRefV1:
    event_id = uuid.uuid4().hex
    return EpisodeRefV1(
        force_code="10",
        episode_ref=f"E{event_id[:6]}",
        event_id=event_id,
        event_message_id=derived_id("episode-event", "10", event_id),
        event_type=event_type,
        occurred_at=occurred_at,
    )


def request(
    ep: EpisodeRefV1,
    code: str,
    kind: OrgKind,
    email: str,
    alert_kind: AlertKind = AlertKind.REPORTED,
) -> AlertRequestedV1:
    alert_id = derived_id(ep.event_message_id, code, alert_kind.value)
    return AlertRequestedV1(
        message_id=alert_id,
        alert_id=alert_id,
        kind=alert_kind,
        recipient=RecipientV1(code=code, kind=kind, name=f"Org {code}", email=email),
        child=CHILD,
        episode=ep,
        police_contact=PoliceContactV1(name="PC Hart", phone="0191 555 0100"),
        reason="on roll",
        policy_rule="reported.default",
        requested_at=RETURNED_AT,
    )


@asynccontextmanager
async def notifier(settings: RelaySettings, **overrides: Any) -> AsyncIterator[FastAPI]:
    await asyncio.to_thread(upgrade, "notifier", settings.database_url_for("notifier"))
    app = create_app(settings, **overrides)
    async with app.router.lifespan_context(app):
        yield app


async def publish(
    app: FastAPI, settings: RelaySettings, topic: Topic, key: str, message: BaseModel
) -> None:
    runtime: ServiceRuntime = app.state.runtime
    await runtime.broker.publish(
        message.model_dump_json().encode(), topic=settings.topic(topic.wire), key=key.encode()
    )


async def alert_rows(app: FastAPI) -> dict[str, Any]:
    runtime: ServiceRuntime = app.state.runtime
    async with runtime.db.transaction() as session:
        return {row.alert_id: row for row in await repository.list_alerts(session, limit=1000)}


def relay(settings: RelaySettings, *args: str) -> Any:
    result = CliRunner().invoke(
        relay_cli,
        list(args),
        env={"RELAY_NOTIFIER_DATABASE_URL": settings.database_url_for("notifier")},
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


async def read_topics(
    settings: RelaySettings, topics: list[Topic], done: Callable[[list[Any]], bool]
) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        *[settings.topic(t.wire) for t in topics],
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="earliest",
        group_id=f"probe-{uuid.uuid4().hex}",
        **group_options(settings),
    )
    await consumer.start()
    got: list[dict[str, Any]] = []
    try:

        async def drained() -> bool:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                got.extend(json.loads(r.value) for r in records)
            return done(got)

        await eventually(drained, 60)
    finally:
        await consumer.stop()
    return got


async def test_each_alert_is_emailed_exactly_once_and_tasks_are_listed(
    settings: RelaySettings,
    smtp_server: tuple[str, SinkHandler],
) -> None:
    _, inbox = smtp_server
    ep = episode()
    requests = [
        request(ep, "100001", OrgKind.SCHOOL, "dsl@hillside.example"),
        request(ep, "A81001", OrgKind.GP_PRACTICE, "safeguarding@surgery.example"),
        request(ep, "E06000057", OrgKind.LOCAL_AUTHORITY, "missing@council.example"),
    ]
    returned = episode(EventType.RETURNED)
    task_id = derived_id("rhi", returned.event_message_id)
    # Returned an hour ago: no reminder or escalation is due while the test runs.
    returned_at = datetime.now(UTC) - timedelta(hours=1)
    task = RhiTaskRequestedV1(
        message_id=task_id,
        task_id=task_id,
        authority=RecipientV1(
            code="E06000057",
            kind=OrgKind.LOCAL_AUTHORITY,
            name="Northumberland",
            email="rhi@council.example",
        ),
        child=CHILD,
        episode=returned,
        looked_after=True,
        returned_at=returned_at,
        due_at=returned_at + timedelta(hours=72),
        requested_at=returned_at,
    )
    async with notifier(settings) as app:
        key = f"{ep.force_code}:{ep.episode_ref}"
        for message in [*requests, requests[0]]:  # one redelivery
            await publish(app, settings, ALERTS_REQUESTED, key, message)
        await publish(app, settings, RHI_TASKS_REQUESTED, key, task)

        async def all_sent() -> bool:
            rows = await alert_rows(app)
            return len(rows) == 3 and all(r.state == "sent" for r in rows.values())

        await eventually(all_sent, 60)
        assert sorted(r.rcpt_tos[0] for r in inbox.received) == sorted(
            m.recipient.email for m in requests
        )
        by_rcpt = {r.rcpt_tos[0]: r.message for r in inbox.received}
        for m in requests:
            got = by_rcpt[m.recipient.email]
            assert got["Message-ID"] == f"<{m.alert_id}@missing-episode-relay>"
            assert got["To"].endswith(f"<{m.recipient.email}>")
            assert ep.episode_ref in got["Subject"] and "Amelia" not in got["Subject"]

        # The same requests again (a replay), and the same facts under a new id: no email.
        runtime: ServiceRuntime = app.state.runtime
        before = runtime.consumers.counters.processed
        again = requests[1].model_copy(update={"message_id": "other", "alert_id": "other"})
        for message in [*requests, again]:
            await publish(app, settings, ALERTS_REQUESTED, key, message)
        await eventually(
            lambda: (
                runtime.consumers.counters.duplicates >= 4
                and runtime.consumers.counters.processed >= before + 1
            ),
            60,
        )
        scheduler: DeliveryScheduler = app.state.scheduler
        assert await scheduler.run_once() == 0
        assert len(inbox.received) == 3
        assert len(await alert_rows(app)) == 3

        # A recipient acknowledges; the CLI shows ids and states, never the child.
        ack = AcknowledgementV1(
            message_id=uuid.uuid4().hex,
            alert_id=requests[0].alert_id,
            acknowledged_at=datetime.now(UTC),
            by="dsl",
        )
        await publish(app, settings, ACKNOWLEDGEMENTS, requests[0].alert_id, ack)

        async def acknowledged() -> bool:
            rows = await alert_rows(app)
            return rows[requests[0].alert_id].state == "acknowledged"

        await eventually(acknowledged, 60)
        tasks = await asyncio.to_thread(relay, settings, "tasks", "list", "--json")
        assert [(t["task_id"], t["state"], t["authority_code"]) for t in tasks] == [
            (task_id, "open", "E06000057")
        ]
        assert datetime.fromisoformat(tasks[0]["due_at"]) == returned_at + timedelta(hours=72)
        listed = await asyncio.to_thread(relay, settings, "alerts", "list", "--json")
        assert {a["alert_id"]: a["state"] for a in listed} == {
            requests[0].alert_id: "acknowledged",
            requests[1].alert_id: "sent",
            requests[2].alert_id: "sent",
        }
        output = json.dumps(listed + tasks)
        assert "Amelia" not in output and "2013-04-07" not in output

        statuses = await read_topics(
            settings,
            [ALERT_STATUS, RHI_TASK_STATUS],
            lambda got: sum(1 for g in got if g["state"] in ("sent", "acknowledged", "open")) >= 5,
        )
    states = sorted(s["state"] for s in statuses)
    assert states.count("queued") == 3 and states.count("sent") == 3
    assert states.count("acknowledged") == 1 and states.count("open") == 1


async def test_an_absent_smtp_server_is_retried_under_a_moved_clock(
    settings: RelaySettings,
) -> None:
    port = free_port()
    settings = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}"})
    offset = timedelta(0)

    def clock() -> datetime:
        return datetime.now(UTC) + offset

    ep = episode()
    message = request(ep, "100001", OrgKind.SCHOOL, "dsl@hillside.example")
    async with notifier(settings, clock=clock) as app:
        await publish(app, settings, ALERTS_REQUESTED, "k", message)

        async def failed_once() -> Any:
            row = (await alert_rows(app)).get(message.alert_id)
            return row if row is not None and row.state == "temporary-failure" else None

        row = await eventually(failed_once, 60)
        assert row.attempts == 1
        assert timedelta(seconds=20) < row.due_at - clock() <= timedelta(seconds=36)

        controller, inbox = start_sink("127.0.0.1", port)
        try:
            scheduler: DeliveryScheduler = app.state.scheduler
            assert await scheduler.run_once() == 0  # not due yet: backoff holds
            offset = timedelta(minutes=2)
            scheduler.wake()

            async def sent() -> Any:
                row = (await alert_rows(app))[message.alert_id]
                return row if row.state == "sent" else None

            row = await eventually(sent, 30)
            assert row.attempts == 2
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app), base_url="http://notifier"
            ) as client:
                assert (await client.get("/healthz")).status_code == 200
                metrics = (await client.get("/metrics")).text
            assert 'relay_notifier_alerts_due{service="notifier"} 0' in metrics
            assert len(inbox.received) == 1
            assert (
                inbox.received[0].message["Message-ID"]
                == f"<{message.alert_id}@missing-episode-relay>"
            )
            runtime: ServiceRuntime = app.state.runtime
            async with runtime.db.transaction() as session:
                attempts = await repository.list_attempts(session, message.alert_id)
            assert [a.outcome for a in attempts] == ["temporary-failure", "sent"]
            assert attempts[0].finished_at is not None and attempts[0].detail
        finally:
            controller.stop()
