"""RHI tasks under ``rhi_trigger = "found"`` on the real database (SQLite, or PostgreSQL
with RELAY_TEST_DATABASE_URL): a ``found`` with no ``returned`` opens its task from a
due row once the wait is over (under a moved clock, never a sleep), once; a ``returned``
within the wait opens its own task instead; out-of-order and withdrawn episodes open
nothing twice; the migration leaves the tables as the models say."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from schemas.base import derived_id
from schemas.messages import RhiTaskRequestedV1
from services.router import awaiting_return
from services.router.handlers import on_episode_event
from services.router.policy import Policy, RhiTrigger
from services.router.tables import awaiting_return as awaiting_table
from services.router.tables import messaging, metadata
from services.runtime.database import Database
from services.runtime.settings import RelaySettings
from tests.integration.test_router_episode_loop import directory, routed
from tests.integration.test_router_routing import AT, event
from tests.schema import schema_drift

NLD = "E06000057"
ORGS = f"""code,kind,name,email,la_code
{NLD},local-authority,Northumberland Council,mc@northumberland.example,
100001,school,Morpeth First School,dsl@morpeth.example,{NLD}
"""
CHILD = {"given_name": "Mia", "family_name": "Khan", "date_of_birth": "2012-01-02"}


POLICY = Policy(rhi_trigger=RhiTrigger.FOUND, rhi_found_wait_hours=24)
SETTINGS = RelaySettings(topic_prefix="t.")
TASKS = "t.rhi-tasks-requested.v1"


async def _outbox(db: Database) -> list[RhiTaskRequestedV1]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(messaging.outbox.c.topic, messaging.outbox.c.payload).order_by(
                messaging.outbox.c.id
            )
        )
        return [RhiTaskRequestedV1.model_validate_json(p) for t, p in rows if t == TASKS]


async def test_a_found_without_a_return_opens_its_task_once_the_wait_is_over(
    tmp_path: Path, database_url: Callable[[str], str]
) -> None:
    url = await asyncio.to_thread(database_url, "router")
    await directory(url, tmp_path, ORGS)
    db = Database(url)
    handler = functools.partial(on_episode_event, policy=POLICY)
    try:
        assert await schema_drift(db, metadata) == []
        found = event("found", "A/1", CHILD)
        assert (await routed(db, found, handler)).on("rhi-tasks-requested") == []
        assert (
            await awaiting_return.open_due(db, messaging, SETTINGS, AT + timedelta(hours=23)) == []
        )
        opened = await awaiting_return.open_due(db, messaging, SETTINGS, AT + timedelta(hours=24))
        assert opened == [derived_id(found.message_id, NLD, "rhi")]
        [task] = await _outbox(db)
        assert task.task_id == opened[0] and task.authority.code == NLD
        assert task.returned_at == AT and task.due_at == AT + timedelta(hours=72)
        assert task.requested_at == AT + timedelta(hours=24)
        # Opened once: the loop again, a copy of the router, a late returned.
        assert await awaiting_return.open_due(db, messaging, SETTINGS, AT + timedelta(days=9)) == []
        late = event("returned", "A/1", CHILD, occurred_at=(AT + timedelta(hours=30)).isoformat())
        assert (await routed(db, late, handler)).on("rhi-tasks-requested") == []
        assert len(await _outbox(db)) == 1
        async with db.transaction() as session:
            row = (await session.execute(select(awaiting_table))).one()
        # Settled: the child's details are gone from the row.
        assert (row.state, row.task) == ("opened", None)
        assert "Mia" not in json.dumps([str(v) for v in row])
    finally:
        await db.dispose()


async def test_a_return_within_the_wait_and_events_out_of_order_open_one_task_each(
    tmp_path: Path, database_url: Callable[[str], str]
) -> None:
    url = await asyncio.to_thread(database_url, "router")
    await directory(url, tmp_path, ORGS)
    db = Database(url)
    handler = functools.partial(on_episode_event, policy=POLICY)
    try:
        # Found, then returned within the wait: the returned event's own task.
        await routed(db, event("found", "B/1", CHILD), handler)
        back = event("returned", "B/1", CHILD, occurred_at=(AT + timedelta(hours=3)).isoformat())
        [task] = (await routed(db, back, handler)).on("rhi-tasks-requested")
        assert task.task_id == derived_id(back.message_id, NLD, "rhi")
        # Returned first, found after (the feed's order): the found waits for nothing.
        early = event("returned", "C/1", CHILD)
        assert len((await routed(db, early, handler)).on("rhi-tasks-requested")) == 1
        await routed(db, event("found", "C/1", CHILD), handler)
        # Found, then withdrawn by the police: never opened.
        await routed(db, event("found", "D/1", CHILD), handler)
        await routed(db, event("withdrawn", "D/1", CHILD, reason="raised in error"), handler)
        assert await awaiting_return.open_due(db, messaging, SETTINGS, AT + timedelta(days=5)) == []
        async with db.transaction() as session:
            rows = await session.execute(
                select(awaiting_table.c.episode_ref, awaiting_table.c.state)
            )
            states = {ref: state for ref, state in rows}
        assert states == {"B/1": "returned", "C/1": "returned", "D/1": "withdrawn"}
    finally:
        await db.dispose()


async def test_the_default_trigger_leaves_no_rows(
    tmp_path: Path, database_url: Callable[[str], str]
) -> None:
    url = await asyncio.to_thread(database_url, "router")
    await directory(url, tmp_path, ORGS)
    db = Database(url)
    try:
        await routed(db, event("found", "E/1", CHILD))
        assert (
            len((await routed(db, event("returned", "E/1", CHILD))).on("rhi-tasks-requested")) == 1
        )
        async with db.transaction() as session:
            assert (await session.execute(select(awaiting_table))).all() == []
    finally:
        await db.dispose()
