"""Ingest by Kafka (``police-events-raw``), and what a police system sees when the broker
cannot take its event."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from pathlib import Path

import uvicorn
from faststream.kafka import KafkaBroker
from sqlalchemy import func, select
from typer.testing import CliRunner

from relay.cli import app as relay_cli
from relay.embedded import EmbeddedBroker, free_port
from schemas.catalogue import POLICE_EVENTS_RAW
from services.ingest import repository
from services.ingest.app import create_app
from services.ingest.publishing import DirectPublisher
from services.ingest.tables import events
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.conftest import eventually
from tests.integration.test_ingest_api import (
    EPISODES,
    _event_id,
    add_key,
    event,
    read_topic,
    running,
)


async def test_police_events_on_kafka_are_accepted_or_kept_as_rejects(
    settings: RelaySettings,
) -> None:
    async with running(settings) as r:
        broker = r.app.state.runtime.broker
        raw = settings.topic(POLICE_EVENTS_RAW.wire)
        good = event("K-1", force_code="11")  # no key here: any force may use the topic
        bad = event("K-2", child={**good["child"], "upn": "A801200005001"})
        for body in (good, good, bad):
            await broker.publish(json.dumps(body).encode(), topic=raw, key=b"11:MISS/1")
        await broker.publish(b"{not json", topic=raw)

        async def rejects() -> list[repository.Reject]:
            async with r.app.state.runtime.db.transaction() as session:
                found = await repository.list_rejects(session)
            return found if len(found) >= 2 else []

        found = await eventually(rejects, 60)
        by_event = {x.event_id: x for x in found}
        assert by_event["K-2"].errors[0]["field"] == "child.upn"
        assert by_event["K-2"].channel == "kafka"
        assert by_event[None].errors[0]["field"] == "(body)"
        [record] = await read_topic(settings, EPISODES, 1)
        assert _event_id(record) == "K-1"
        assert json.loads(record.value)["source"] == "kafka"
        assert await r.logged() == 1


async def test_a_broker_that_cannot_take_the_event_gives_503_and_keeps_nothing(
    settings: RelaySettings, caplog: object
) -> None:
    # The accept path publishes through its own broker connection; point it at a second
    # real broker and stop that one, so the publish finds no broker to acknowledge it.
    away = EmbeddedBroker(free_port())
    away.start()
    lost = KafkaBroker(
        away.bootstrap,
        enable_idempotence=False,
        acks="all",
        request_timeout_ms=3000,
        logger=logging.getLogger("test.away"),
    )
    await lost.start()
    try:
        away.stop()
        publisher = DirectPublisher(lost, ack_timeout_s=2)
        async with running(settings, publisher=publisher) as r:
            answer = await r.client.post("/v1/episode-events", json=event("U-1"), headers=r.auth())
            assert answer.status_code == 503
            assert "retry" in answer.json()["error"]
            batch = await r.client.post(
                "/v1/episode-events:batch",
                headers=r.auth(),
                json=[event("U-2"), event("U-3", type="nope")],
            )
            assert [x["status"] for x in batch.json()["results"]] == ["unavailable", "rejected"]
            async with r.app.state.runtime.db.transaction() as session:
                logged = await session.scalar(select(func.count()).select_from(events))
            assert logged == 0
    finally:
        await lost.stop()


FEED = (
    "event_id,type,occurred_at,force_code,episode_ref,child.given_name,child.family_name,"
    "child.date_of_birth,risk.grade,found_with\n"
    "W-1,reported,2026-03-02T08:00:00Z,10,MISS/5,Eve,Cole,2011-01-02,low,\n"
    'W-2,found,2026-03-02T11:00:00Z,10,MISS/5,Eve,Cole,2011-01-02,,"[{""given_name"": '
    '""Fay"", ""family_name"": ""Moss""}]"\n'
    "W-3,reported,2026-03-02T08:00:00Z,10,MISS/6,Gus,Hart,2011-01-02,,\n"
)


async def test_relay_ingest_through_a_real_server_and_replay_when_the_broker_is_fresh(
    settings: RelaySettings, tmp_path: Path
) -> None:
    await asyncio.to_thread(upgrade, "ingest", settings.database_url_for("ingest"))
    port = free_port()
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started or serving.done(), 60)
        key, _ = await add_key(app, "10", "file drop")
        feed = tmp_path / "feed.csv"
        feed.write_text(FEED)
        result = await asyncio.to_thread(
            CliRunner().invoke,
            relay_cli,
            ["ingest", str(feed), "--url", f"http://127.0.0.1:{port}", "--key", key],
        )
        assert result.exit_code == 0, result.output
        assert "accepted 2, duplicate 0, rejected 1" in result.stdout
        rejects = (tmp_path / "feed.csv.rejects.csv").read_text().splitlines()
        assert rejects[1:] == ["4,W-3,risk.grade,required when type is reported"]
    finally:
        server.should_exit = True
        await serving

    # Started again with replay_on_start (as `relay up` does after a fresh broker): the
    # whole log goes out again, in order.
    again = create_app(settings.model_copy(update={"replay_on_start": True}))
    async with again.router.lifespan_context(again):
        pass
    ids = [_event_id(x) for x in await read_topic(settings, EPISODES, 4)]
    assert ids == ["W-1", "W-2", "W-1", "W-2"]
    assert Counter(ids) == {"W-1": 2, "W-2": 2}
