"""The router on the real broker and database: directory imported through the CLI,
episode events in, alerts, RHI tasks and dead letters out, each exactly once."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from typer.testing import CliRunner

from relay.cli import app as relay_cli
from schemas.catalogue import ALERTS_REQUESTED, EPISODE_EVENTS, RHI_TASKS_REQUESTED
from schemas.episode import EpisodeEventV1
from services.router.app import create_app
from services.runtime.kafka import group_options
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.conftest import eventually

NLD, NCL = "E06000057", "E08000021"
ORGS = f"""code,kind,name,email,la_code
{NLD},local-authority,Northumberland Council,mc@northumberland.example,
{NCL},local-authority,Newcastle Council,mc@newcastle.example,
100001,school,Morpeth First School,dsl@morpeth.example,{NLD}
100002,school,Other School,dsl@other.example,{NLD}
A81001,gp-practice,Morpeth Surgery,gp@nhs.example,{NLD}
"""
ROLL = """org_code,record_id,given_name,family_name,date_of_birth,nhs_number,from,to
100001,S1,Zoë,O'Brien,2012-05-31,,2020-09-01,
100002,S7,Zoe,OBrien,2012-05-31,,2018-09-01,2020-07-31
A81001,P1,Zoe,O'Brien,2012-05-31,9434765919,,
100001,S2,Jack,Smith,2011-01-01,,,
"""
AT = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)


def event(type_: str, episode_ref: str, child: dict[str, Any], **extra: Any) -> EpisodeEventV1:
    return EpisodeEventV1.model_validate(
        {
            "message_id": str(uuid.uuid4()),
            "event_id": f"{episode_ref}-{type_}",
            "type": type_,
            "occurred_at": AT.isoformat(),
            "force_code": "10",
            "episode_ref": episode_ref,
            "child": child,
            "accepted_at": AT.isoformat(),
            "source": "test",
            "risk": {"grade": "medium", "factors": ["cse-concern"]},
            "location": {"description": "the bus station"},
            **extra,
        }
    )


async def test_events_become_alerts_and_rhi_tasks_exactly_once(
    settings: RelaySettings,
    tmp_path: Path,
) -> None:
    url = settings.router_database_url
    assert url is not None
    await asyncio.to_thread(upgrade, "router", url)
    (tmp_path / "orgs.csv").write_text(ORGS, encoding="utf-8")
    (tmp_path / "roll.csv").write_text(ROLL, encoding="utf-8")

    zoe = {
        "given_name": "Zoe",
        "family_name": "O'BRIEN",
        "date_of_birth": "2012-05-31",
        "nhs_number": "9434765919",
    }
    unknown = {
        "given_name": "Amy",
        "family_name": "Lee",
        "date_of_birth": "2013-02-02",
        "responsible_la": NCL,
    }
    nobody = {"given_name": "Sam", "family_name": "Jones", "date_of_birth": "2013-02-02"}
    reported = event("reported", "MP/1", zoe)
    unmatched = event("reported", "MP/2", unknown)
    homeless = event("reported", "MP/3", nobody)
    returned = event("returned", "MP/1", zoe)

    app = create_app(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, enable_idempotence=False)
    consumer = AIOKafkaConsumer(
        settings.topic(ALERTS_REQUESTED.wire),
        settings.topic(RHI_TASKS_REQUESTED.wire),
        settings.topic(EPISODE_EVENTS.dlq),
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="earliest",
        group_id=f"probe-{uuid.uuid4().hex}",
        **group_options(settings),
    )
    got: dict[str, list[dict[str, Any]]] = {"alerts": [], "rhi": [], "dlq": []}
    names = {
        settings.topic(ALERTS_REQUESTED.wire): "alerts",
        settings.topic(RHI_TASKS_REQUESTED.wire): "rhi",
        settings.topic(EPISODE_EVENTS.dlq): "dlq",
    }

    async def drain() -> None:
        batch = await consumer.getmany(timeout_ms=300)
        for records in batch.values():
            for r in records:
                got[names[r.topic]].append(json.loads(r.value))

    # The router starts on an empty directory (a fresh install). Two authorities and no
    # default_la imported after that leave a child nobody claims without one: the import
    # warns (a restart would be refused), and such a child's event is dead-lettered.
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        warnings = {}
        for kind, name in (("organisations", "orgs.csv"), ("roll", "roll.csv")):
            result = await asyncio.to_thread(
                CliRunner().invoke,
                relay_cli,
                ["directory", "import", kind, str(tmp_path / name), "--json"],
                env={"RELAY_ROUTER_DATABASE_URL": url, "RELAY_POLICY_FILE": None},
            )
            summary = json.loads(result.stdout)
            assert result.exit_code == 0 and summary["skipped"] == 0, result.output
            warnings[kind] = (summary.get("authority_gaps"), result.stderr)
        [gap], stderr = warnings["organisations"]
        assert "no default_la" in gap and "WARNING" in stderr and gap in stderr
        assert warnings["roll"] == (None, "")
        await producer.start()
        await consumer.start()
        try:
            # The same event twice: the second changes nothing. One episode, one key, so
            # the returned event is handled after both copies.
            for e in (reported, unmatched, homeless, reported, returned):
                await producer.send_and_wait(
                    settings.topic(EPISODE_EVENTS.wire),
                    e.model_dump_json().encode(),
                    key=e.episode_key.encode(),
                )

            async def all_in() -> bool:
                await drain()
                return len(got["alerts"]) >= 7 and len(got["rhi"]) >= 1 and len(got["dlq"]) >= 1

            await eventually(all_in, 90)
            await eventually(lambda: runtime.consumers.counters.duplicates == 1, 30)
            await drain()  # anything extra that would be a duplicate
        finally:
            await consumer.stop()
            await producer.stop()

    by_event: dict[str, dict[str, str]] = {}
    for a in got["alerts"]:
        by_event.setdefault(a["episode"]["event_message_id"], {})[a["recipient"]["code"]] = a[
            "policy_rule"
        ]
    # On the school roll (the old school's record has ended) and the GP list: school, GP
    # and the authority, nothing else.
    assert by_event[reported.message_id] == {
        "100001": "reported.school",
        "A81001": "reported.gp",
        NLD: "reported.la",
    }
    # On no roll: only the responsible authority.
    assert by_event[unmatched.message_id] == {NCL: "reported.la"}
    assert by_event[returned.message_id] == {
        "100001": "returned.school",
        "A81001": "returned.gp",
        NLD: "returned.la",
    }
    assert len(got["alerts"]) == 7 and len({a["alert_id"] for a in got["alerts"]}) == 7
    for a in got["alerts"]:
        assert "risk" not in a and "location" not in a and "bus station" not in json.dumps(a)

    [task] = got["rhi"]
    assert task["authority"]["code"] == NLD
    assert datetime.fromisoformat(task["due_at"]) == AT + timedelta(hours=72)
    assert task["episode"]["event_message_id"] == returned.message_id

    # No authority can be found for the third child: it lands in the dead-letter topic.
    [letter] = got["dlq"]
    assert f"no responsible local authority for event {homeless.message_id}" in letter["error"]
    assert runtime.consumers.counters.dead_lettered == 1
