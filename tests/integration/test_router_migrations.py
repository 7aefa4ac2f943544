"""The router's migrations on the real database (SQLite, or PostgreSQL when
RELAY_TEST_DATABASE_URL is set): a roll imported under an earlier revision keeps its
rows, and the tables end as the models describe them, both ways."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from services.router import importing
from services.router.tables import metadata, organisations, roll
from services.runtime.database import Database
from services.runtime.migrations import alembic_config, upgrade
from tests.integration.test_router_import_scale import write_roll
from tests.schema import schema_drift


async def test_the_roll_keeps_its_rows_through_the_unique_index_migration(
    tmp_path: Path, database_url: Callable[[str], str]
) -> None:
    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url, "0002")
    rolls = tmp_path / "roll.csv"
    orgs = await asyncio.to_thread(write_roll, rolls, 2_000)
    db = Database(url)
    try:
        # The directory as revision 0002 has it (today's import writes later columns).
        async with db.transaction() as session:
            # Only the columns given are written: none that came after 0002.
            await session.execute(
                organisations.insert(),
                [
                    {
                        "code": c,
                        "kind": "school",
                        "name": f"School {c}",
                        "email": f"dsl{c}@school.example",
                        "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
                    }
                    for c in orgs
                ],
            )
        await importing.import_roll(db, rolls)  # a small file: rows go in one by one
        await db.dispose()
        await asyncio.to_thread(upgrade, "router", url)
        assert await _rows(db) == 2_000
        assert await schema_drift(db, metadata) == []
        with pytest.raises(IntegrityError):  # the unique index holds
            async with db.transaction() as session:
                await session.execute(
                    roll.insert().values(
                        org_code=orgs[0],
                        record_id="R0",
                        given_name="Amy",
                        family_name="Lee",
                        date_of_birth=date(2012, 1, 1),
                        norm_given="amy",
                        norm_family="lee",
                        key_family_dob="L|2012-01-01",
                        key_names="amy|L",
                    )
                )
        await db.dispose()
        await asyncio.to_thread(command.downgrade, alembic_config("router", url), "0002")
        await asyncio.to_thread(upgrade, "router", url)
        assert await _rows(db) == 2_000
        assert await schema_drift(db, metadata) == []
    finally:
        await db.dispose()


async def _rows(db: Database) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(roll)) or 0)
