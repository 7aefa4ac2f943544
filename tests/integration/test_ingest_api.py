"""The ingest API on the real broker and database: what a police system sees, and what
lands on ``episode-events``."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from sqlalchemy import func, select
from typer.testing import CliRunner

from relay.cli import app as relay_cli
from schemas.episode import EpisodeEventV1, episode_message_id
from services.ingest import repository
from services.ingest.app import create_app
from services.ingest.keys import generate_key, hash_key
from services.ingest.replay import replay
from services.ingest.tables import events
from services.ingest.upload import upload
from services.runtime.kafka import group_options
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.conftest import eventually

EPISODES = "episode-events.v1"
REJECTED = "ingest-rejected.v1"


def event(event_id: str | None = None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": event_id or f"NB-{uuid.uuid4().hex[:8]}",
        "type": "reported",
        "occurred_at": "2026-03-01T21:40:00+00:00",
        "force_code": "10",
        "episode_ref": "MISS/2026/0042",
        "child": {
            "given_name": "Amy",
            "family_name": "Smith",
            "date_of_birth": "2012-05-04",
            "nhs_number": "9434765919",
            "upn": "B801200005001",
        },
        "risk": {"grade": "high", "factors": ["cse"]},
    }
    body.update(changes)
    return body


@dataclass
class Running:
    app: FastAPI
    client: httpx.AsyncClient
    key: str
    settings: RelaySettings

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    async def logged(self) -> int:
        async with self.app.state.runtime.db.transaction() as session:
            return int(await session.scalar(select(func.count()).select_from(events)) or 0)


async def add_key(app: FastAPI, force: str, name: str) -> tuple[str, str]:
    key = generate_key(force)
    async with app.state.runtime.db.transaction() as session:
        record = await repository.add_key(session, name, force, hash_key(key))
    return key, record.id


@asynccontextmanager
async def running(settings: RelaySettings, **overrides: Any) -> AsyncIterator[Running]:
    await asyncio.to_thread(upgrade, "ingest", settings.database_url_for("ingest"))
    app = create_app(settings, **overrides)
    async with app.router.lifespan_context(app):
        key, _ = await add_key(app, "10", "Northumbria PNC bridge")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            yield Running(app, client, key, settings)


async def read_topic(
    settings: RelaySettings, wire: str, count: int = 0, until: str | None = None
) -> list[Any]:
    """Records on a topic from the start, read until there are ``count`` of them or the
    event ``until`` has been seen. (End offsets are no use here: the embedded broker
    under-reports them for multi-record batches.)"""
    consumer = AIOKafkaConsumer(
        settings.topic(wire),
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="earliest",
        group_id=f"probe-{uuid.uuid4().hex}",
        **group_options(settings),
    )
    await consumer.start()
    got: list[Any] = []
    try:

        async def drained() -> bool:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                got.extend(records)
            if until is not None:
                return any(_event_id(r) == until for r in got)
            return len(got) >= count

        await eventually(drained, 60)
    finally:
        await consumer.stop()
    return got


def _event_id(record: Any) -> str:
    return str(json.loads(record.value)["event_id"])


async def relay_command(settings: RelaySettings, *args: str) -> Any:
    """Run a ``relay`` command as a user would (in a thread: it runs its own loop)."""
    env = {
        "RELAY_INGEST_DATABASE_URL": settings.database_url_for("ingest"),
        "RELAY_KAFKA_BOOTSTRAP": settings.bootstrap,
        "RELAY_TOPIC_PREFIX": settings.topic_prefix,
    }
    return await asyncio.to_thread(
        CliRunner().invoke, relay_cli, list(args), env=env, catch_exceptions=False
    )


async def test_one_event_accepted_once_refused_clearly_and_rejects_kept(
    settings: RelaySettings,
) -> None:
    async with running(settings) as r:
        good = event("NB-1")
        answer = await r.client.post("/v1/episode-events", json=good, headers=r.auth())
        assert (answer.status_code, answer.json()) == (
            202,
            {"status": "accepted", "event_id": "NB-1"},
        )
        [record] = await read_topic(settings, EPISODES, 1)
        published = EpisodeEventV1.model_validate_json(record.value)
        assert record.key == b"10:MISS/2026/0042"
        assert published.message_id == episode_message_id("10", "NB-1")
        assert published.source == "Northumbria PNC bridge"
        assert published.child.nhs_number == "9434765919"

        again = await r.client.post("/v1/episode-events", json=good, headers=r.auth())
        assert (again.status_code, again.json()) == (
            200,
            {"status": "duplicate", "event_id": "NB-1"},
        )
        assert await r.logged() == 1
        # Nothing new on the topic: a later event of the same episode (same partition)
        # comes straight after the first.
        later = await r.client.post(
            "/v1/episode-events", json=event("NB-3", type="found", risk=None), headers=r.auth()
        )
        assert later.status_code == 202
        records = await read_topic(settings, EPISODES, until="NB-3")
        assert [_event_id(x) for x in records] == ["NB-1", "NB-3"]

        bad = event("NB-2", child={**good["child"], "nhs_number": "9434765918"})
        refused = await r.client.post("/v1/episode-events", json=bad, headers=r.auth())
        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["errors"]] == ["child.nhs_number"]
        malformed = await r.client.post(
            "/v1/episode-events", content=b'{"event_id": ', headers=r.auth()
        )
        assert malformed.status_code == 422
        assert malformed.json()["errors"][0]["field"] == "(body)"

        foreign = await r.client.post(
            "/v1/episode-events", json=event(force_code="11"), headers=r.auth()
        )
        assert foreign.status_code == 403
        assert "force 10" in foreign.json()["error"]
        assert (await r.client.post("/v1/episode-events", json=good)).status_code == 401
        unknown = await r.client.post(
            "/v1/episode-events", json=good, headers=r.auth(generate_key("10"))
        )
        assert unknown.status_code == 401
        revoked_key, revoked_id = await add_key(r.app, "10", "old bridge")
        assert (await relay_command(settings, "keys", "revoke", revoked_id)).exit_code == 0
        revoked = await r.client.post(
            "/v1/episode-events", json=event(), headers=r.auth(revoked_key)
        )
        assert revoked.status_code == 401
        assert await r.logged() == 2

        listed = await relay_command(settings, "rejects", "list", "--json")
        assert listed.exit_code == 0, listed.output
        rejects = json.loads(listed.stdout)
        assert len(rejects) == 2  # the 403 and the 401s are not data problems
        by_event = {x["event_id"]: x for x in rejects}
        assert by_event["NB-2"]["errors"][0]["field"] == "child.nhs_number"
        assert by_event["NB-2"]["channel"] == "http"
        assert by_event["NB-2"]["source"] == "Northumbria PNC bridge"
        assert by_event["NB-2"]["force_code"] == "10"
        assert "payload" not in by_event["NB-2"]
        assert "Amy" not in listed.stdout  # no child's details in the listing
        # ... and announced on ingest-rejected through the outbox.
        announced = await read_topic(settings, REJECTED, 2)
        assert {json.loads(x.value)["event_id"] for x in announced} == {"NB-2", None}

        keys = await relay_command(settings, "keys", "list", "--json")
        assert r.key not in keys.stdout and "key_hash" not in keys.stdout

        spec = (await r.client.get("/openapi.json")).json()
        assert "/v1/episode-events" in spec["paths"]
        assert "EpisodeEventSubmissionV1" in spec["components"]["schemas"]
        assert (await r.client.get("/healthz")).status_code == 200
        metrics = (await r.client.get("/metrics")).text
        assert 'relay_ingest_events_accepted_total{service="ingest"} 2' in metrics
        assert re.search(r'^relay_outbox_pending\{service="ingest"\} \d+$', metrics, re.M)


async def test_batches_files_and_replay(settings: RelaySettings, tmp_path: Path) -> None:
    async with running(settings) as r:
        first = event("B-1")
        answer = await r.client.post(
            "/v1/episode-events:batch",
            headers=r.auth(),
            json=[
                first,
                event("B-2", type="found", risk=None),
                first,
                event("B-3", occurred_at="not a time"),
                event("B-4", force_code="11"),
            ],
        )
        assert answer.status_code == 200
        results = answer.json()["results"]
        assert [(x["index"], x["event_id"], x["status"]) for x in results] == [
            (0, "B-1", "accepted"),
            (1, "B-2", "accepted"),
            (2, "B-1", "duplicate"),
            (3, "B-3", "rejected"),
            (4, "B-4", "rejected"),
        ]
        assert results[3]["errors"][0]["field"] == "occurred_at"
        assert results[4]["errors"][0]["field"] == "force_code"

        ndjson = "\n".join([json.dumps(first), "", json.dumps(event("B-5")), "{broken"])
        answer = await r.client.post(
            "/v1/episode-events:batch",
            content=ndjson.encode(),
            headers={**r.auth(), "Content-Type": "application/x-ndjson"},
        )
        assert [x["status"] for x in answer.json()["results"]] == [
            "duplicate",
            "accepted",
            "rejected",
        ]

        too_many = await r.client.post(
            "/v1/episode-events:batch", headers=r.auth(), json=[{}] * 5001
        )
        assert too_many.status_code == 413 and "5000" in too_many.json()["error"]

        feed = tmp_path / "feed.csv"
        feed.write_text(
            "event_id,type,occurred_at,force_code,episode_ref,child.given_name,"
            "child.family_name,child.date_of_birth,child.nhs_number,child.looked_after,"
            "risk.grade,risk.factors\n"
            "F-1,reported,2026-03-02T08:00:00Z,10,MISS/7,Ben,Hall,2011-01-02,,true,low,cse;cce\n"
            "F-2,reported,2026-03-02T08:00:00Z,10,MISS/8,Cy,Dunn,2011-01-02,123,false,low,\n"
            "B-1,reported,2026-03-01T21:40:00+00:00,10,MISS/2026/0042,Amy,Smith,2012-05-04,"
            ",,high,\n"
            "F-3,reported,2026-03-02T08:00:00Z,10,MISS/9,Di,Ray,2011-01-02,,perhaps,low,\n"
        )
        summary = await upload(feed, r.client, r.key)
        assert (summary.accepted, summary.duplicate, summary.rejected) == (1, 1, 2)
        rejects = (tmp_path / "feed.csv.rejects.csv").read_text().splitlines()
        assert rejects[0] == "line,event_id,field,message"
        assert rejects[1].startswith("3,F-2,child.nhs_number,")
        assert rejects[2].startswith("5,F-3,child.looked_after,")
        listed = json.loads((await relay_command(settings, "rejects", "list", "--json")).stdout)
        assert {x["channel"] for x in listed} == {"http", "file"}

        # Replay republishes the log in accepted order; consumers absorb the repeats.
        count = await replay(r.app.state.runtime.db, r.app.state.runtime.broker, settings)
        assert count == 4
        later = await relay_command(settings, "replay", "--since", "2999-01-01", "--json")
        assert json.loads(later.stdout) == {"replayed": 0}, later.output
        cli = await relay_command(settings, "replay", "--json")
        assert json.loads(cli.stdout) == {"replayed": 4}
        # Each accepted event once, then once per replay: a duplicate publish or a lost
        # event would show here.
        ids = [
            EpisodeEventV1.model_validate_json(x.value).event_id
            for x in await read_topic(settings, EPISODES, 12)
        ]
        assert sorted(set(ids)) == ["B-1", "B-2", "B-5", "F-1"]
        assert all(ids.count(x) == 3 for x in set(ids))
