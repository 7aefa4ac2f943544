"""The console's store of return home interview records (``console_rhi_records``):
written when the console's form records one and when ``rhi-task-outcomes.v2`` brings
one recorded elsewhere (``relay tasks complete``). The first recorded stands, as the
notifier keeps the first outcome: a later record of the same task changes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.rhi_record import RhiTaskOutcomeV2
from services.console.projections import Row
from services.console.rhi_rows import rhi_record_row
from services.console.tables import rhi_records


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert(rhi_records) if dialect == "postgresql" else sqlite.insert(rhi_records)


async def keep(session: AsyncSession, record: RhiTaskOutcomeV2) -> None:
    """Keep ``record`` unless the task has one recorded earlier (an upsert, so that the
    form and the topic, arriving in any order, converge on the first)."""
    row = rhi_record_row(record)
    stmt = _insert(session)
    stmt = stmt.on_conflict_do_update(
        index_elements=[rhi_records.c.task_id],
        set_={name: stmt.excluded[name] for name in row if name != "task_id"},
        where=rhi_records.c.recorded_at > stmt.excluded.recorded_at,
    )
    await session.execute(stmt, row)


async def of_task(session: AsyncSession, task_id: str) -> Row | None:
    found = (
        (await session.execute(select(rhi_records).where(rhi_records.c.task_id == task_id)))
        .mappings()
        .first()
    )
    return dict(found) if found is not None else None
