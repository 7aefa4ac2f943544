"""The router's part of retention (services/runtime/retention.py): episodes whose last
event is older than ``accepted_events`` allows, as the console removes its episodes.

The person index holds each episode's child as the police gave it (names, date of
birth, address, NHS number, police person id), so an episode past its time leaves the
index with everything the router kept about it: its roll links, its same-child review,
the organisation reviews that hold the whole event, disputes, an RHI task waiting for a
return, and the reported time that counted towards repeat missing. A child whose other
episodes are recent keeps its ``child_id`` through them; a child with none left is gone.
Merges and splits applied (``router_child_changes``: ids and counts) stay as the record
of who changed what. Counts only come back: never which child."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Table, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.tables import (
    awaiting_return,
    child_reviews,
    disputes,
    episodes,
    person_episodes,
    person_roll_links,
    reviews,
)
from services.runtime.retention import RetentionPolicy

P = person_episodes


def _of(table: Table, expired: ColumnElement[bool]) -> ColumnElement[bool]:
    """Rows of ``table`` that belong to an expired episode."""
    keys = select(P.c.force_code, P.c.episode_ref).where(expired)
    return tuple_(table.c.force_code, table.c.episode_ref).in_(keys)


async def remove_expired(
    session: AsyncSession, policy: RetentionPolicy, now: datetime
) -> dict[str, int]:
    cutoff = policy.cutoff("accepted_events", now)
    expired = func.coalesce(P.c.last_event_at, P.c.updated_at) < cutoff
    removed: dict[str, int] = {}
    for name, table in (
        ("roll_links", person_roll_links),
        ("same_child_reviews", child_reviews),
        ("reviews", reviews),
        ("disputes", disputes),
        ("awaiting_return", awaiting_return),
        ("episodes", episodes),
    ):
        result = await session.execute(delete(table).where(_of(table, expired)))
        removed[name] = int(getattr(result, "rowcount", 0) or 0)
    gone = await session.execute(delete(P).where(expired))
    removed["person_index"] = int(getattr(gone, "rowcount", 0) or 0)
    # Episodes the index never had (counted before it, withdrawn ones forgotten): their
    # reported time alone, by its own age.
    old = await session.execute(
        delete(episodes).where(
            episodes.c.reported_at < cutoff,
            tuple_(episodes.c.force_code, episodes.c.episode_ref).not_in(
                select(P.c.force_code, P.c.episode_ref)
            ),
        )
    )
    removed["episodes"] += int(getattr(old, "rowcount", 0) or 0)
    return removed
