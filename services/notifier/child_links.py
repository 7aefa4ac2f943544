"""Which child each episode belongs to, as the notifier follows it (issue 20): the
router's ``child-identities.v1`` links (the highest revision wins, in any order), and
until one arrives the ``child_id`` an alert or task names. A subject access request
(``relay audit export --child``) and a new episode noted on an open RHI task find the
child's episodes here, so a merge or split made later is followed too."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.child_identity import ChildIdentityV1
from services.notifier.tables import child_links
from services.runtime import conflicts, on_connection
from services.runtime.handling import Outbox
from services.runtime.prepared import Prepared

L = child_links


@functools.cache
def _keep(dialect: str) -> Any:
    """The link inserted, or its child and revision replaced by a higher revision's;
    a row back only when it was written. One statement, built once per dialect."""
    stmt = conflicts.dialect_insert(dialect, L)
    return stmt.on_conflict_do_update(
        index_elements=[L.c.force_code, L.c.episode_ref],
        set_={"child_id": stmt.excluded.child_id, "revision": stmt.excluded.revision},
        where=stmt.excluded.revision > L.c.revision,
    ).returning(L.c.revision)


async def keep(
    session: AsyncSession, force_code: str, episode_ref: str, child_id: str, revision: int
) -> bool:
    """The episode's child as of ``revision``, unless a higher one (or this one) is kept
    already; True if kept. One INSERT … ON CONFLICT DO UPDATE … WHERE (a SELECT … FOR
    UPDATE, then an INSERT or UPDATE, were two, each built at every message)."""
    rows = await on_connection.run(
        session,
        _kept(session.get_bind().dialect.name).run,
        {
            "force_code": force_code,
            "episode_ref": episode_ref,
            "child_id": child_id,
            "revision": revision,
        },
    )
    return bool(rows)


@functools.cache
def _kept(dialect: str) -> Prepared:
    """:func:`_keep` prepared: on SQLite run on the driver, without SQLAlchemy's
    execution path (services/runtime/prepared.py)."""
    return Prepared(_keep(dialect))


async def adopt(
    session: AsyncSession, force_code: str, episode_ref: str, child_id: str | None
) -> None:
    """A child id an alert or task names: the episode's until the router's link comes
    (revision 0: any link kept already stands)."""
    if child_id is not None:
        await session.execute(
            conflicts.insert_or_skip(session, L),
            {
                "force_code": force_code,
                "episode_ref": episode_ref,
                "child_id": child_id,
                "revision": 0,
            },
        )


async def episodes_of(session: AsyncSession, child_id: str) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(L.c.force_code, L.c.episode_ref).where(L.c.child_id == child_id)
    )
    return [(f, e) for f, e in rows]


async def children_of(session: AsyncSession, keys: list[tuple[str, str]]) -> set[str]:
    found: set[str] = set()
    for force_code, episode_ref in keys:
        child_id = await session.scalar(
            select(L.c.child_id).where(L.c.force_code == force_code, L.c.episode_ref == episode_ref)
        )
        if child_id is not None:
            found.add(child_id)
    return found


async def on_child_identity(session: AsyncSession, message: ChildIdentityV1, out: Outbox) -> None:
    await keep(session, message.force_code, message.episode_ref, message.child_id, message.revision)
