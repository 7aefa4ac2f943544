"""Which child each episode belongs to, in the console's read model (issue 20).

The router owns "the same child" and says it on ``child-identities.v1``, per episode,
with a revision: the console keeps the highest revision (``console_child_links``) and
copies its ``child_id`` to the episode row, which every page groups by. Until the
router's link arrives (it may trail an alert on another partition), the ``child_id``
an alert, task or review names stands in. A child whose episodes all moved away (a
merge) is remembered with where it went, so an old link to its page still leads
somewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import String, bindparam, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from services.console import repository
from services.console.projections import Row
from services.console.tables import child_links, child_merges, episodes
from services.runtime.prepared import Prepared

_EPISODE_KEY = bindparam("b_episode_key", type_=String)

_REVISION = (
    select(child_links.c.revision)
    .where(child_links.c.episode_key == _EPISODE_KEY)
    .with_for_update()
)
_LINKED = (
    select(child_links.c.child_id)
    .where(child_links.c.episode_key == episodes.c.episode_key)
    .scalar_subquery()
)
# The episode takes its link's child: ``b_child_id`` (the message's) when there is no
# link, else the one it has.
_TAKE_LINK = (
    update(episodes)
    .where(episodes.c.episode_key == _EPISODE_KEY)
    .values(
        child_id=func.coalesce(_LINKED, bindparam("b_child_id", type_=String), episodes.c.child_id)
    )
)


_REVISIONS = (
    select(child_links.c.episode_key, child_links.c.revision)
    .where(child_links.c.episode_key.in_(bindparam("b_keys", expanding=True)))
    .with_for_update()
)


@dataclass
class LinkWrites:
    """The router's links of one transaction (issue 18), written in :meth:`flush`: per
    episode the highest revision (the first of equal ones, as one by one keeps), kept
    unless a revision as high is stored, then taken by the episode. A link that merges
    a child away (``previous_child_id``) is not held: the episodes left to the previous
    child are counted after it (sql_projection_store.py)."""

    rows: dict[str, Row] = field(default_factory=dict)

    def link(self, row: Row) -> None:
        held = self.rows.get(row["episode_key"])
        if held is None or row["revision"] > held["revision"]:
            self.rows[row["episode_key"]] = row

    async def flush(self, session: AsyncSession) -> None:
        rows, self.rows = self.rows, {}
        if rows:
            await session.run_sync(lambda sync: _write(sync.connection(), rows))


def _write(connection: Connection, rows: dict[str, Row]) -> None:
    """:meth:`LinkWrites.flush` in one hand-over to the session's synchronous side."""
    stored = dict(connection.execute(_REVISIONS, {"b_keys": list(rows)}).tuples().all())
    kept = [
        row for key, row in rows.items() if stored.get(key) is None or row["revision"] > stored[key]
    ]
    if kept:
        repository.write_many(connection, child_links, "upsert", kept)
        follow_all(connection, [row["episode_key"] for row in kept])


async def record_link(session: AsyncSession, row: Row) -> bool:
    """Keep the router's link unless a higher revision is kept already; True if kept."""
    current = await session.scalar(_REVISION, {"b_episode_key": row["episode_key"]})
    if current is not None and current >= row["revision"]:
        return False
    await repository.upsert(session, child_links, row)
    await _take_link(session, row["episode_key"], None)
    previous = row.get("previous_child_id")
    if previous and previous != row["child_id"]:
        left = await session.scalar(
            select(func.count()).select_from(episodes).where(episodes.c.child_id == previous)
        )
        if not left:
            await repository.upsert(
                session,
                child_merges,
                {"child_id": previous, "into_child_id": row["child_id"], "at": row["at"]},
            )
    return True


async def _take_link(session: AsyncSession, episode_key: str, child_id: str | None) -> None:
    await session.execute(_TAKE_LINK, {"b_episode_key": episode_key, "b_child_id": child_id})


async def adopt(session: AsyncSession, episode_key: str, child_id: str | None) -> None:
    """The child a message names for the episode, while the router's link is not here."""
    if child_id is not None:
        await _take_link(session, episode_key, child_id)


async def follow(session: AsyncSession, episode_key: str) -> None:
    """An episode row just written from its events takes the router's link, if any."""
    await _take_link(session, episode_key, None)


_TAKE_LINK_PREPARED = Prepared(_TAKE_LINK)


def follow_all(connection: Connection, episode_keys: list[str]) -> None:
    """:func:`follow` for each of ``episode_keys``, in one executemany on a connection's
    synchronous side (prepared: on SQLite on the driver, issue 18)."""
    _TAKE_LINK_PREPARED.run_many(
        connection, [{"b_episode_key": key, "b_child_id": None} for key in episode_keys]
    )


async def merged_into(session: AsyncSession, child_id: str) -> str | None:
    """Where a merged-away child's episodes are now (following merges of merges)."""
    seen = {child_id}
    current = child_id
    while True:
        into = await session.scalar(
            select(child_merges.c.into_child_id).where(child_merges.c.child_id == current)
        )
        if into is None or into in seen:
            return None if current == child_id else current
        seen.add(into)
        current = into


async def episodes_of(session: AsyncSession, child_id: str) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(episodes).where(episodes.c.child_id == child_id)
        )
        or 0
    )


__all__ = [
    "LinkWrites",
    "adopt",
    "episodes_of",
    "follow",
    "follow_all",
    "merged_into",
    "record_link",
]
