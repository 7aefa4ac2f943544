"""The audit chains' migrations on the real database: the console's audit entries made
before the chain are chained in the order they were written and verify; both services'
tables then match their models exactly, and the migrations go down and up again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import text

from services.console.tables import audit, audit_chains
from services.console.tables import metadata as console_metadata
from services.notifier.tables import audit_chains as notifier_chains
from services.notifier.tables import disclosures
from services.notifier.tables import metadata as notifier_metadata
from services.runtime import audit_chain
from services.runtime.database import Database
from services.runtime.migrations import alembic_config, upgrade
from tests.schema import schema_drift


async def test_console_audit_entries_made_before_the_chain_are_chained(
    database_url: Callable[[str], str],
) -> None:
    url = await asyncio.to_thread(database_url, "console")
    await asyncio.to_thread(upgrade, "console", url, "0004")
    db = Database(url)
    try:
        async with db.transaction() as session:
            at = datetime(2026, 11, 1, 9, 30, 15, 123456, tzinfo=UTC)
            for n, action in enumerate(("view-child", "view-network", "export-meeting-pack")):
                stamp = at + timedelta(minutes=n)
                await session.execute(
                    text(
                        "INSERT INTO console_audit (at, username, role, action, subject, detail) "
                        "VALUES (:at, 'chair', 'mset-chair', :action, 'subject', NULL)"
                    ),
                    {
                        # As each dialect's UtcDateTime kept it before the chain.
                        "at": stamp
                        if db.engine.dialect.name == "postgresql"
                        else stamp.replace(tzinfo=None).isoformat(sep=" "),
                        "action": action,
                    },
                )
        await db.dispose()
        await asyncio.to_thread(upgrade, "console", url)
        async with db.transaction() as session:
            report = await audit_chain.verify(session, audit_chains, audit)
            assert report.intact, report.problems
            assert report.entries == 3 and report.last_seq == 3
            # New entries follow on.
            await audit_chain.append(
                session,
                audit_chains,
                audit,
                {
                    "at": datetime.now(UTC),
                    "username": "admin",
                    "role": "admin",
                    "action": "view-audit",
                    "subject": "audit",
                    "detail": None,
                },
            )
        async with db.transaction() as session:
            report = await audit_chain.verify(session, audit_chains, audit)
            assert report.intact and report.entries == 4
        assert await schema_drift(db, console_metadata) == []
        await db.dispose()
        await asyncio.to_thread(command.downgrade, alembic_config("console", url), "0004")
        await asyncio.to_thread(upgrade, "console", url)
        assert await schema_drift(db, console_metadata) == []
    finally:
        await db.dispose()


async def test_notifier_disclosures_table_matches_its_model(
    database_url: Callable[[str], str],
) -> None:
    url = await asyncio.to_thread(database_url, "notifier")
    await asyncio.to_thread(upgrade, "notifier", url)
    db = Database(url)
    try:
        assert await schema_drift(db, notifier_metadata) == []
        async with db.transaction() as session:
            report = await audit_chain.verify(session, notifier_chains, disclosures)
        assert report.intact and report.entries == 0 and report.last_seq == 0
        await db.dispose()
        await asyncio.to_thread(command.downgrade, alembic_config("notifier", url), "0002")
        await asyncio.to_thread(upgrade, "notifier", url)
        assert await schema_drift(db, notifier_metadata) == []
    finally:
        await db.dispose()
