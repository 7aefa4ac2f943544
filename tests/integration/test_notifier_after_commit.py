"""A handler's ``after_commit`` (services/notifier/handlers.py): the scheduler is woken
once a transaction has committed, once however many alerts it stored, and never for a
transaction rolled back. On SQLite, and on PostgreSQL when ``RELAY_TEST_DATABASE_URL``
is set."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import select

from services.notifier.handlers import after_commit
from services.notifier.tables import alerts
from services.runtime.database import Database
from services.runtime.migrations import upgrade


async def test_woken_once_after_the_commit_and_not_after_a_rollback(
    database_url: Callable[[str], str],
) -> None:
    url = database_url("notifier")
    await asyncio.to_thread(upgrade, "notifier", url)
    db = Database(url)
    woken: list[str] = []

    def wake() -> None:
        woken.append("scheduler")

    def other() -> None:
        woken.append("other")

    try:
        async with db.transaction() as session:
            await session.execute(select(alerts.c.alert_id))
            after_commit(session, wake)
            after_commit(session, other)
            after_commit(session, wake)
            assert woken == []  # not before the commit
        assert woken == ["scheduler", "other"]
        with pytest.raises(RuntimeError):
            async with db.transaction() as session:
                await session.execute(select(alerts.c.alert_id))
                after_commit(session, wake)
                raise RuntimeError("rolled back")
        async with db.transaction() as session:
            await session.execute(select(alerts.c.alert_id))
        assert woken == ["scheduler", "other"]
    finally:
        await db.dispose()
