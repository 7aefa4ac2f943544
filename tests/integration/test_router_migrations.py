"""The router's migrations on the real database (SQLite, or PostgreSQL when
RELAY_TEST_DATABASE_URL is set): a roll imported under an earlier revision keeps its
rows, and the tables end as the models describe them, both ways."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from services.router.blocking import address_key, initials_key
from services.router.roll_parser import ROLL_VALUE_COLUMNS, RollParser
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
        # The directory as revision 0002 has it (only the columns it had).
        await _organisations(db, orgs)
        await _insert_without_later_keys(db, rolls, orgs)
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


async def test_the_roll_only_keys_are_filled_for_rows_imported_before_them(
    tmp_path: Path, database_url: Callable[[str], str]
) -> None:
    """Migration 0009 computes blocking.address_key and blocking.initials_key for the
    rows already there; down and up again, the same."""
    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url, "0008")
    rolls = tmp_path / "roll.csv"
    orgs = await asyncio.to_thread(write_roll, rolls, 600, 200)
    db = Database(url)
    try:
        await _organisations(db, orgs)
        await _insert_without_later_keys(db, rolls, orgs)
        async with db.transaction() as session:  # a row with no house number: no key
            await session.execute(
                roll.update().where(roll.c.record_id == "R5").values(address="High Street")
            )
        await db.dispose()
        for _ in range(2):
            await asyncio.to_thread(upgrade, "router", url)
            async with db.transaction() as session:
                rows = (
                    await session.execute(
                        select(
                            roll.c.address,
                            roll.c.key_address,
                            roll.c.given_name,
                            roll.c.family_name,
                            roll.c.date_of_birth,
                            roll.c.key_initials_dob,
                        )
                    )
                ).all()
            assert len(rows) == 600
            assert all(r.key_address == address_key(r.address) for r in rows)
            assert sum(r.key_address is None for r in rows) == 1
            assert all(
                r.key_initials_dob
                == initials_key(r.given_name, r.family_name, r.date_of_birth.isoformat())
                is not None
                for r in rows
            )
            assert await schema_drift(db, metadata) == []
            await db.dispose()
            await asyncio.to_thread(command.downgrade, alembic_config("router", url), "0008")
    finally:
        await db.dispose()


async def _organisations(db: Database, orgs: list[str]) -> None:
    async with db.transaction() as session:
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


async def _insert_without_later_keys(db: Database, rolls: Path, orgs: list[str]) -> None:
    """The roll file's rows as revisions 0002 to 0008 held them: no ``key_address`` nor
    ``key_initials_dob`` (today's importer writes them)."""
    with rolls.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        parser = RollParser(next(reader), set(orgs))
        parsed = [parser.parse(row, line).values for line, row in enumerate(reader, 2)]
    columns = [c for c in ROLL_VALUE_COLUMNS if c not in ("key_address", "key_initials_dob")]
    async with db.transaction() as session:
        await session.execute(
            roll.insert(), [{c: values[c] for c in columns} for values in parsed if values]
        )


async def _rows(db: Database) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(roll)) or 0)
