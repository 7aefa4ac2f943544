"""Reads of the console's read model for the returns (issue 21): episodes, RHI tasks
with their records, and the looked-after children's missing episodes for the SSDA903
table, each as a typed value (services/console/returns.py, rhi_measures.py,
ssda903.py decide what they count as). Only the columns the figures need are read:
100,000 episodes go through in well under the two seconds asked (``relay bench
returns``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, and_, case, func, literal, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.messages import OrgKind, RhiTaskState
from services.console.days import day_after, day_start
from services.console.returns import ChildMonth, Months, ReturnsFigures, figures
from services.console.rhi_measures import TaskFacts
from services.console.ssda903 import MissingEpisode
from services.console.tables import (
    alerts,
    episode_events,
    episodes,
    identity_reviews,
    rhi_records,
    rhi_tasks,
)

_ENDING = ("found", "returned")


def _time(column: Any) -> Any:
    """A time column read as the driver gives it, without ``UtcDateTime``'s per-value
    call: asyncpg gives aware UTC times already; SQLite the text ``UtcDateTime`` wrote
    (UTC, no offset), which :func:`_moment` reads. Over a hundred thousand rows that is
    half the reading (``datetime.replace`` alone costs more than parsing the text)."""
    return type_coerce(column, String())


def _moment(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(f"{value}+00:00")


def _when(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(f"{value}+00:00")


def _of_authority(la: str) -> object:
    """Episodes of ``la``: the router's decision, else (an episode no alert has reached
    yet) the authority the police named."""
    c = episodes.c
    return or_(c.authority_code == la, and_(c.authority_code.is_(None), c.responsible_la == la))


def _month_of(column: Any, months: Months) -> Any:
    """Which month of ``months`` a time falls in, worked out by the database (a time
    before the first or after the last is filtered out by the caller)."""
    starts = months.starts
    if len(starts) == 1:
        return literal(0)
    return case(*((column < start, i) for i, start in enumerate(starts[1:])), else_=len(starts) - 1)


async def child_months(
    session: AsyncSession, la: str, since: date, until: date
) -> list[ChildMonth]:
    """The episodes of ``la`` that began in the period, counted per child and month by
    the database (one pass over them)."""
    c = episodes.c
    months = Months(since, until)
    month = _month_of(c.first_event_at, months)
    child = func.coalesce(c.child_id, literal("episode:") + c.episode_key)
    looked = c.looked_after.is_(True)
    placed = and_(looked, c.resident_la.is_not(None), c.resident_la != la)
    rows = await session.execute(
        select(
            month,
            child,
            func.count(),
            func.sum(case((looked, 1), else_=0)),
            func.sum(case((placed, 1), else_=0)),
        )
        .where(
            _of_authority(la),  # type: ignore[arg-type]
            c.first_event_at >= months.starts[0],
            c.first_event_at < months.end,
            c.withdrawn_at.is_(None),
        )
        .group_by(month, child)
    )
    return [
        ChildMonth(int(i), key, int(n), int(looked_n or 0), int(placed_n or 0))
        for i, key, n, looked_n, placed_n in rows
    ]


async def task_facts(
    session: AsyncSession,
    la: str | None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[TaskFacts]:
    """The tasks of ``la`` (every authority's with None) whose return falls in
    [``since``, ``until``); a task of a withdrawn episode was never owed."""
    t, r = rhi_tasks.c, rhi_records.c
    returned = func.coalesce(t.returned_at, t.due_at)
    where = [or_(t.state.is_(None), t.state != RhiTaskState.WITHDRAWN.value)]
    if la is not None:
        where.append(t.authority_code == la)
    if since is not None:
        where.append(returned >= since)
    if until is not None:
        where.append(returned < until)
    looked_after = await _looked_after(session, where)
    rows = await session.execute(
        select(
            t.task_id,
            t.authority_code,
            t.authority_name,
            _time(returned),
            _time(t.due_at),
            t.state,
            _time(t.state_at),
            r.outcome,
            _time(r.offered_at),
            _time(r.interviewed_at),
            t.episode_key,
        )
        .select_from(rhi_tasks.outerjoin(rhi_records, r.task_id == t.task_id))
        .where(*where)
    )
    return [_task_fact(row, looked_after) for row in rows]


async def _looked_after(session: AsyncSession, where: list[Any]) -> dict[str, str | None]:
    """Looked-after children's episodes among the tasks' (a tenth or so), with the
    authority each child lives in: a second small query, cheaper than joining every task
    to its episode."""
    return {
        key: resident
        for key, resident in await session.execute(
            select(episodes.c.episode_key, episodes.c.resident_la).where(
                episodes.c.looked_after.is_(True),
                episodes.c.episode_key.in_(select(rhi_tasks.c.episode_key).where(*where)),
            )
        )
    }


def _task_fact(row: Any, looked_after: dict[str, str | None]) -> TaskFacts:
    task_id, code, name, back, due, state, state_at, outcome, offered, met, key = row
    looked = key in looked_after
    return TaskFacts(
        task_id,
        code,
        name,
        _when(back),
        _when(due),
        state,
        _moment(state_at),
        outcome,
        _moment(offered),
        _moment(met),
        looked,
        looked and looked_after[key] not in (None, code),
    )


async def returns_figures(
    session: AsyncSession, la: str, since: date, until: date
) -> ReturnsFigures:
    """The figures of ``la`` for the period, as ``/returns`` and ``relay returns figures``
    give them."""
    grouped = await child_months(session, la, since, until)
    tasks = await task_facts(session, la, day_start(since), day_after(until))
    return figures(la, since, until, grouped, tasks)


async def alerted_authorities(session: AsyncSession) -> list[tuple[str, str]]:
    """Every local authority the console has alerted, ``(code, name)``, by name."""
    rows = await session.execute(
        select(alerts.c.recipient_code, alerts.c.recipient_name)
        .where(alerts.c.recipient_kind == OrgKind.LOCAL_AUTHORITY.value)
        .distinct()
    )
    names: dict[str, str] = {}
    for code, name in rows:
        names[code] = name or names.get(code) or code
    return sorted(names.items(), key=lambda item: item[1])


async def known_authority(session: AsyncSession, la: str) -> bool:
    """Whether the read model has ever heard of ``la`` (an alert to it, a task of it, an
    episode it is responsible for)."""
    for query in (
        select(alerts.c.alert_id).where(alerts.c.recipient_code == la).limit(1),
        select(rhi_tasks.c.task_id).where(rhi_tasks.c.authority_code == la).limit(1),
        select(episodes.c.episode_key).where(_of_authority(la)).limit(1),  # type: ignore[arg-type]
    ):
        if await session.scalar(query) is not None:
            return True
    return False


async def missing_episodes(session: AsyncSession, la: str, until: date) -> list[MissingEpisode]:
    """Every looked-after child's episode of ``la`` that began by ``until``: when it
    began and ended (the first ``found`` or ``returned``, else ``closed``), and the
    authority's own record of the child on it (its roll matched by the router, or a
    person's identity decision): never a guess."""
    c = episodes.c
    chosen = (
        select(c.episode_key)
        .where(
            _of_authority(la),  # type: ignore[arg-type]
            c.looked_after.is_(True),
            c.withdrawn_at.is_(None),
            c.first_event_at < day_after(until),
        )
        .scalar_subquery()
    )
    ends = await _ends(session, chosen)
    records = await _own_records(session, chosen, la)
    out = []
    for row in await session.execute(
        select(
            c.episode_key,
            c.force_code,
            c.episode_ref,
            c.initials,
            c.birth_year,
            c.date_of_birth,
            c.first_event_at,
        ).where(c.episode_key.in_(chosen))
    ):
        found = ends.get(row.episode_key, {})
        ending = [found[t] for t in _ENDING if t in found]
        out.append(
            MissingEpisode(
                episode_key=row.episode_key,
                force_code=row.force_code,
                episode_ref=row.episode_ref,
                initials=row.initials,
                birth_year=row.birth_year,
                date_of_birth=row.date_of_birth,
                started_at=row.first_event_at,
                ended_at=min(ending) if ending else found.get("closed"),
                roll_records=frozenset(records.get(row.episode_key, ())),
            )
        )
    return out


async def _ends(session: AsyncSession, chosen: Any) -> dict[str, dict[str, datetime]]:
    """Of each chosen episode, the first time of each ending event type."""
    ends: dict[str, dict[str, datetime]] = defaultdict(dict)
    for key, type_, at in await session.execute(
        select(
            episode_events.c.episode_key,
            episode_events.c.type,
            func.min(episode_events.c.occurred_at),
        )
        .where(
            episode_events.c.episode_key.in_(chosen),
            episode_events.c.type.in_((*_ENDING, "closed")),
        )
        .group_by(episode_events.c.episode_key, episode_events.c.type)
    ):
        ends[key][type_] = at
    return ends


async def _own_records(session: AsyncSession, chosen: Any, la: str) -> dict[str, set[str]]:
    """Of each chosen episode, the authority's own records of the child: its roll
    matched by the router, or chosen by a person's identity decision."""
    records: dict[str, set[str]] = defaultdict(set)
    for key, record in await session.execute(
        select(alerts.c.episode_key, alerts.c.roll_record_id).where(
            alerts.c.episode_key.in_(chosen),
            alerts.c.recipient_code == la,
            alerts.c.roll_record_id.is_not(None),
        )
    ):
        records[key].add(record)
    for key, record in await session.execute(
        select(identity_reviews.c.episode_key, identity_reviews.c.roll_record_id).where(
            identity_reviews.c.episode_key.in_(chosen),
            identity_reviews.c.org_code == la,
            identity_reviews.c.decision == "match",
            identity_reviews.c.roll_record_id.is_not(None),
        )
    ):
        records[key].add(record)
    return records
