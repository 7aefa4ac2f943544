"""Reads and writes of the console's read model over an AsyncSession.

Writes are upserts (``INSERT … ON CONFLICT``) because different topics touch the same row
from concurrent consumers; a plain select-then-insert would race into an IntegrityError,
which the runtime takes for a duplicate message (and so would lose the message).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Table, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.messages import AlertRequestedV1, RhiTaskRequestedV1
from services.console import projections, rhi_rows
from services.console.days import day_after, day_start
from services.console.episode_view import EpisodeView
from services.console.stream_filters import StreamFilters
from services.console.tables import (
    alert_answers,
    alert_states,
    alerts,
    dead_letters,
    episode_events,
    episodes,
    identity_reviews,
    rejects,
    rhi_tasks,
)
from services.runtime.prepared import Prepared

Row = Mapping[Any, Any]


# --- writes -------------------------------------------------------------------------


def _insert(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"the console's read model needs PostgreSQL or SQLite, not {dialect}")


# The statements are built once per table (and set of columns) and the row's values go
# as parameters: SQLAlchemy then compiles each once, where ``.values(**row)`` would build
# and compile a new statement for every message.
_STATEMENTS: dict[tuple[str, str, str, tuple[str, ...]], Any] = {}

WriteKind = Literal["ignore", "upsert"]


def _built(dialect: str, table: Table, kind: str, names: tuple[str, ...]) -> Any:
    key = (dialect, table.name, kind, names)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _insert(dialect, table)
        if kind == "ignore":
            stmt = stmt.on_conflict_do_nothing()
        else:
            keys = [c.name for c in table.primary_key.columns]
            changes = {name: stmt.excluded[name] for name in names if name not in keys}
            stmt = stmt.on_conflict_do_update(index_elements=keys, set_=changes)
        _STATEMENTS[key] = stmt
    return stmt


def _statement(session: AsyncSession, table: Table, kind: str, names: tuple[str, ...]) -> Any:
    return _built(session.get_bind().dialect.name, table, kind, names)


def write_many(connection: Connection, table: Table, kind: WriteKind, rows: Sequence[Row]) -> None:
    """Insert ``rows`` (the same columns) unless their primary key exists (``ignore``),
    or insert them or update the existing rows' columns they name (``upsert``, one row
    per key), on a connection's synchronous side, in its transaction: on SQLite one
    ``executemany`` on the driver, without SQLAlchemy's execution context and parameters
    per row (issue 18); elsewhere through ``Connection.execute``."""
    if rows:
        names = tuple(rows[0]) if kind == "upsert" else ()
        _prepared(connection.dialect.name, table, kind, names).run_many(connection, rows)


@functools.cache
def _prepared(dialect: str, table: Table, kind: WriteKind, names: tuple[str, ...]) -> Prepared:
    """:func:`_built`'s statement as a Prepared one (services/runtime/prepared.py)."""
    return Prepared(_built(dialect, table, kind, names))


async def insert_ignore(session: AsyncSession, table: Table, row: Row) -> None:
    """Insert ``row`` unless its primary key exists."""
    await session.execute(_statement(session, table, "ignore", ()), dict(row))


async def upsert(session: AsyncSession, table: Table, row: Row) -> None:
    """Insert ``row``, or update the existing row's columns that ``row`` names."""
    await session.execute(_statement(session, table, "upsert", tuple(row)), dict(row))


async def update_episode(
    session: AsyncSession, message: AlertRequestedV1 | RhiTaskRequestedV1, values: Row
) -> None:
    """Set ``values`` on the episode of ``message`` (its row exists: a placeholder at
    least)."""
    if values:
        ref = message.episode
        key = projections.episode_key(ref.force_code, ref.episode_ref)
        await session.execute(update(episodes).where(episodes.c.episode_key == key).values(values))


def standing_events() -> Any:
    """Events of episodes the police have not withdrawn (a withdrawn episode stays in the
    stream and the audit, never in the watchlist, links, pack or figures)."""
    return episode_events.c.episode_key.not_in(
        select(episodes.c.episode_key).where(episodes.c.withdrawn_at.is_not(None))
    )


# The columns an episode's summary is made from (projections.summarise_episode; read by
# event_projection.py, which writes episode events per batch).
SUMMARY_COLUMNS = (
    "message_id",
    "type",
    "occurred_at",
    "accepted_at",
    "risk_grade",
    "missing_from",
    "initials",
    "birth_year",
    "looked_after",
    "given_name",
    "family_name",
    "date_of_birth",
    "responsible_la",
    "risk_factors",
    "location_postcode",
    "sex",
    "home_district",
    "reason",
)


async def rhi_task_state(session: AsyncSession, task_id: str) -> Row | None:
    return (
        (
            await session.execute(
                select(rhi_tasks.c.state, rhi_tasks.c.state_at)
                .where(rhi_tasks.c.task_id == task_id)
                .with_for_update()
            )
        )
        .mappings()
        .first()
    )


# --- reads --------------------------------------------------------------------------


@dataclass
class Counts:
    episodes: int
    dead_letters: int
    rejects: int
    pending_reviews: int
    open_rhi_tasks: int


async def count_all(session: AsyncSession) -> Counts:
    async def count(table: Table, *where: Any) -> int:
        query = select(func.count()).select_from(table)
        if where:
            query = query.where(*where)
        return int(await session.scalar(query) or 0)

    return Counts(
        episodes=await count(episodes),
        dead_letters=await count(dead_letters),
        rejects=await count(rejects),
        pending_reviews=await count(
            identity_reviews,
            identity_reviews.c.decision.is_(None),
            identity_reviews.c.requested_at.is_not(None),
        ),
        open_rhi_tasks=await count(
            rhi_tasks,
            rhi_tasks.c.state.is_(None) | rhi_tasks.c.state.in_(rhi_rows.OPEN_RHI_STATES),
        ),
    )


async def episode_page(
    session: AsyncSession, limit: int, offset: int, filters: StreamFilters | None = None
) -> list[EpisodeView]:
    """Newest first: by the time of the latest event, then by reference."""
    query = select(episodes)
    if filters is not None:
        query = query.where(*_conditions(filters))
    rows = (
        (
            await session.execute(
                query.order_by(episodes.c.latest_event_at.desc(), episodes.c.episode_key)
                .limit(limit)
                .offset(offset)
            )
        )
        .mappings()
        .all()
    )
    return await with_details(session, rows)


def _conditions(f: StreamFilters) -> list[Any]:
    c = episodes.c
    where: list[Any] = []
    if f.since is not None:
        where.append(c.latest_event_at >= day_start(f.since))
    if f.until is not None:
        where.append(c.latest_event_at < day_after(f.until))
    if f.force is not None:
        where.append(c.force_code == f.force)
    if f.la is not None:
        where.append(c.responsible_la == f.la)
    if f.grade is not None:
        where.append(c.risk_grade == f.grade.value)
    if f.factor is not None:
        where.append(("," + c.risk_factors + ",").contains(f",{f.factor},"))
    if f.event is not None:
        where.append(
            exists().where(
                episode_events.c.episode_key == c.episode_key,
                episode_events.c.type == f.event.value,
            )
        )
    return where


async def episode(session: AsyncSession, force_code: str, ref: str) -> EpisodeView | None:
    key = projections.episode_key(force_code, ref)
    rows = (
        (await session.execute(select(episodes).where(episodes.c.episode_key == key)))
        .mappings()
        .all()
    )
    views = await with_details(session, rows)
    return views[0] if views else None


async def with_details(session: AsyncSession, rows: Sequence[Row]) -> list[EpisodeView]:
    views = {row["episode_key"]: EpisodeView(dict(row)) for row in rows}
    if not views:
        return []
    keys = list(views)
    for event in (
        await session.execute(
            select(episode_events)
            .where(episode_events.c.episode_key.in_(keys))
            .order_by(episode_events.c.occurred_at, episode_events.c.accepted_at)
        )
    ).mappings():
        views[event["episode_key"]].events.append(dict(event))
    for alert in (
        await session.execute(
            select(alerts)
            .where(alerts.c.episode_key.in_(keys))
            .order_by(
                alerts.c.recipient_kind,
                alerts.c.recipient_code,
                alerts.c.requested_at,
                alerts.c.alert_id,
            )
        )
    ).mappings():
        views[alert["episode_key"]].alerts.append(dict(alert))
    for task in (
        await session.execute(
            select(rhi_tasks).where(rhi_tasks.c.episode_key.in_(keys)).order_by(rhi_tasks.c.due_at)
        )
    ).mappings():
        views[task["episode_key"]].rhi_tasks.append(dict(task))
    for answer in (
        await session.execute(
            select(alert_answers)
            .where(alert_answers.c.episode_key.in_(keys))
            .order_by(alert_answers.c.answered_at, alert_answers.c.message_id)
        )
    ).mappings():
        views[answer["episode_key"]].answers.append(dict(answer))
    return list(views.values())


async def alert(session: AsyncSession, alert_id: str) -> tuple[Row, list[Row]] | None:
    row = (
        (await session.execute(select(alerts).where(alerts.c.alert_id == alert_id)))
        .mappings()
        .first()
    )
    if row is None:
        return None
    history = (
        (
            await session.execute(
                select(alert_states)
                .where(alert_states.c.alert_id == alert_id)
                .order_by(alert_states.c.at, alert_states.c.message_id)
            )
        )
        .mappings()
        .all()
    )
    return dict(row), [dict(h) for h in history]


async def dead_letter_page(session: AsyncSession, limit: int, offset: int) -> list[Row]:
    return [
        dict(r)
        for r in (
            await session.execute(
                select(dead_letters)
                .order_by(dead_letters.c.failed_at.desc(), dead_letters.c.message_id)
                .limit(limit)
                .offset(offset)
            )
        ).mappings()
    ]


async def reject_page(session: AsyncSession, limit: int, offset: int) -> list[Row]:
    out: list[Row] = []
    for r in (
        await session.execute(
            select(rejects)
            .order_by(rejects.c.received_at.desc(), rejects.c.message_id)
            .limit(limit)
            .offset(offset)
        )
    ).mappings():
        out.append({**r, "errors": json.loads(r["errors"])})
    return out
