"""``relay tasks complete`` with the RHI record's options (issue 21), on the real broker
and database: the record goes to ``rhi-task-outcomes.v2`` and its outcome to ``.v1``
(what the notifier closes the task from); bad input names the option and sends nothing;
nothing of the record is printed."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer
from typer.testing import CliRunner

from relay.cli import app as relay_app
from schemas.catalogue import RHI_TASK_OUTCOMES, RHI_TASK_OUTCOMES_V2
from schemas.episode import EventType
from schemas.messages import ChildSummaryV1, EpisodeRefV1, OrgKind, RecipientV1, RhiTaskRequestedV1
from services.notifier import repository
from services.notifier.model import RhiTask
from services.runtime.database import Database, utcnow
from services.runtime.kafka import ensure_topics, group_options
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings

NOW = utcnow()
RETURNED = NOW - timedelta(hours=30)


def relay(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(relay_app, list(args), env=env)
    crashed = "" if isinstance(result.exception, SystemExit | None) else repr(result.exception)
    return result.exit_code, result.stdout, result.stderr + crashed


async def open_task(url: str) -> str:
    await asyncio.to_thread(upgrade, "notifier", url)
    task_id = str(uuid.uuid4())
    message = RhiTaskRequestedV1(
        message_id=task_id,
        task_id=task_id,
        authority=RecipientV1(
            code="E06000057", kind=OrgKind.LOCAL_AUTHORITY, name="Council", email="c@x.example"
        ),
        child=ChildSummaryV1(given_name="Mia", family_name="Khan", date_of_birth=date(2012, 1, 2)),
        episode=EpisodeRefV1(
            force_code="10",
            episode_ref="NB-9",
            event_id="NB-9-returned",
            event_message_id="m-NB-9",
            event_type=EventType.RETURNED,
            occurred_at=RETURNED,
        ),
        returned_at=RETURNED,
        due_at=RETURNED + timedelta(hours=72),
        requested_at=RETURNED,
    )
    db = Database(url)
    try:
        async with db.transaction() as session:
            await repository.insert_task(
                session, RhiTask.requested(message, RETURNED, message.due_at, None)
            )
    finally:
        await db.dispose()
    return task_id


async def published(settings: RelaySettings) -> dict[str, list[dict[str, Any]]]:
    names = {settings.topic(t.wire): t.wire for t in (RHI_TASK_OUTCOMES, RHI_TASK_OUTCOMES_V2)}
    consumer = AIOKafkaConsumer(
        *names,
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="earliest",
        group_id=f"probe-{uuid.uuid4().hex}",
        **group_options(settings),
    )
    got: dict[str, list[dict[str, Any]]] = {wire: [] for wire in names.values()}
    await consumer.start()
    try:
        for _ in range(10):  # a few short polls: enough for what is already on the topics
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for r in records:
                    got[names[r.topic]].append(json.loads(r.value))
    finally:
        await consumer.stop()
    return got


async def test_the_record_and_its_outcome_go_out_and_bad_input_sends_nothing(
    settings: RelaySettings,
) -> None:
    url = settings.notifier_database_url
    assert url is not None
    task_id = await open_task(url)
    await ensure_topics(settings)
    env = {
        "RELAY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
        "RELAY_TOPIC_PREFIX": settings.topic_prefix,
        "RELAY_NOTIFIER_DATABASE_URL": url,
        "COLUMNS": "400",  # the error box on one line
    }
    common = ("tasks", "complete", task_id, "--by", "rhi.worker")
    interview = ("--interviewer", "Sam Okafor", "--independent")
    refused = [
        (
            (
                "--outcome",
                "completed",
                "--interviewed-at",
                (RETURNED - timedelta(hours=1)).isoformat(),
                *interview,
            ),
            "--interviewed-at",
            "before the child's return",
        ),
        (
            (
                "--outcome",
                "completed",
                "--interviewed-at",
                (NOW + timedelta(hours=1)).isoformat(),
                *interview,
            ),
            "--interviewed-at",
            "in the future",
        ),
        (("--outcome", "declined"), "--reason", "required when the outcome is declined"),
        (("--outcome", "completed", *interview), "--interviewed-at", "required"),
        (
            ("--outcome", "completed", "--interviewed-at", "2026-13-01T10:00", *interview),
            "--interviewed-at",
            "not a time",
        ),
        (
            (
                "--outcome",
                "completed",
                "--interviewed-at",
                RETURNED.isoformat(),
                "--interviewer",
                "Sam",
            ),
            "--independent",
            "independent",
        ),
        (
            (
                "--outcome",
                "completed",
                "--interviewed-at",
                RETURNED.isoformat(),
                *interview,
                "--push",
                "gangs",
            ),
            "--push",
            "not in the policy's list",
        ),
    ]
    for args, option, words in refused:
        code, _, err = await asyncio.to_thread(relay, env, *common, *args)
        assert code == 2 and option in err and words in err, (args, err)

    interviewed = RETURNED + timedelta(hours=20)
    code, out, err = await asyncio.to_thread(
        relay,
        env,
        *common,
        "--outcome", "completed",
        "--offered-at", (RETURNED + timedelta(hours=2)).isoformat(),
        "--offered-how", "phone",
        "--interviewed-at", interviewed.isoformat(),
        *interview,
        "--interviewer-org", "Barnardo's",
        "--where", "A friend's flat",
        "--with-whom", "Older boys",
        "--push", "family-conflict", "--pull", "peer-pressure",
        "--harm", "grooming", "--harm", "criminal-exploitation",
        "--child-words", "I wanted to get away",
        "--referral", "camhs", "--referral", "exploitation-team",
        "--shared-with-police",
    )  # fmt: skip
    assert code == 0, err
    assert f"task {task_id}: completed sent to rhi-task-outcomes.v2 and rhi-task-outcomes.v1" in out
    assert "friend" not in out + err and "get away" not in out + err

    got = await published(settings)
    [record] = got["rhi-task-outcomes.v2"]
    [outcome] = got["rhi-task-outcomes.v1"]
    assert record["task_id"] == outcome["task_id"] == task_id
    assert record["interviewed_at"].startswith(interviewed.isoformat()[:16])
    assert record["interviewer"] == {
        "name": "Sam Okafor",
        "organisation": "Barnardo's",
        "independent": True,
    }
    assert record["offer"]["method"] == "phone" and record["offer"]["accepted"] is True
    assert record["harm_disclosed"] is True and record["referrals"] == [
        "camhs",
        "exploitation-team",
    ]
    assert outcome["outcome"] == "completed" and "interviewed_at" not in outcome
