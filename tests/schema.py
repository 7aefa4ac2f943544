"""What Alembic would change to make a database's tables match the models: nothing,
when the migrations (and whatever an import does to the tables) left them as built."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from services.runtime.database import Database


async def schema_drift(db: Database, metadata: MetaData) -> list[Any]:
    """Alembic's differences between ``metadata`` and ``db`` (its version tables aside)."""

    def compare(sync: Connection) -> list[Any]:
        context = MigrationContext.configure(sync, opts={"compare_type": True})
        return [
            change
            for change in compare_metadata(context, metadata)
            if not (change[0] == "remove_table" and change[1].name.startswith("alembic_version"))
        ]

    async with db.transaction() as session:
        conn = await session.connection()
        return await conn.run_sync(compare)
