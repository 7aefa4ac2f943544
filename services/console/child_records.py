"""The children a merge or a split is about, as the console knows them: each child's
episodes with how each was linked, and the children born on the same day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.console.tables import child_links as links_table
from services.console.tables import episodes

SUGGESTED = 10


@dataclass(frozen=True)
class ChildRecord:
    """One child as the console knows it: their episodes, as each police record had it."""

    child_id: str
    episodes: list[dict[str, Any]]

    @property
    def dates_of_birth(self) -> set[date]:
        return {e["date_of_birth"] for e in self.episodes if e["date_of_birth"]}

    @property
    def name(self) -> str:
        latest = self.episodes[0] if self.episodes else {}
        return f"{latest.get('given_name') or ''} {latest.get('family_name') or ''}".strip()


async def child_record(session: AsyncSession, child_id: str) -> ChildRecord:
    rows = (
        (
            await session.execute(
                select(
                    episodes.c.episode_key,
                    episodes.c.force_code,
                    episodes.c.episode_ref,
                    episodes.c.given_name,
                    episodes.c.family_name,
                    episodes.c.date_of_birth,
                    episodes.c.first_event_at,
                    episodes.c.withdrawn_at,
                    links_table.c.basis,
                )
                .outerjoin(links_table, links_table.c.episode_key == episodes.c.episode_key)
                .where(episodes.c.child_id == child_id)
                .order_by(episodes.c.first_event_at.desc(), episodes.c.episode_key)
            )
        )
        .mappings()
        .all()
    )
    return ChildRecord(child_id, [dict(r) for r in rows])


async def suggestions(session: AsyncSession, child: ChildRecord) -> list[ChildRecord]:
    """Other children born on the same day: whom a person most often merges with."""
    born = sorted(child.dates_of_birth)
    if not born:
        return []
    ids = (
        await session.scalars(
            select(episodes.c.child_id)
            .where(
                episodes.c.date_of_birth.in_(born),
                episodes.c.child_id.is_not(None),
                episodes.c.child_id != child.child_id,
            )
            .group_by(episodes.c.child_id)
            .order_by(func.max(episodes.c.latest_event_at).desc())
            .limit(SUGGESTED)
        )
    ).all()
    return [await child_record(session, i) for i in ids]
