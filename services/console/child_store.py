"""Reads about children across their episodes: a child's episodes, the repeat-missing
watchlist, and the episodes and events of a period that the links between children and
the meeting pack are made from. SQL only; the pure modules (``repeat_missing``,
``child_network``, ``pack_contents``) build what the pages show."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.console import repository
from services.console.episode_view import EpisodeView
from services.console.repeat_missing import RepeatRule, Watched, watched
from services.console.tables import episode_events, episodes

EPISODES_SHOWN = 200


async def child_episodes(session: AsyncSession, child_id: str) -> list[EpisodeView]:
    """The child's episodes (the router's ``child_id``), newest first, with details."""
    rows = (
        (
            await session.execute(
                select(episodes)
                .where(episodes.c.child_id == child_id)
                .order_by(episodes.c.latest_event_at.desc(), episodes.c.episode_key)
                .limit(EPISODES_SHOWN)
            )
        )
        .mappings()
        .all()
    )
    return await repository.with_details(session, rows)


async def watchlist(session: AsyncSession, rule: RepeatRule, now: datetime) -> list[Watched]:
    """The children with at least ``rule.threshold`` episodes in its window up to
    ``now``, in the watchlist's order."""
    since = now - timedelta(days=rule.window_days)
    recent = (
        (episodes.c.first_event_at >= since)
        & episodes.c.child_id.is_not(None)
        & episodes.c.withdrawn_at.is_(None)
    )
    keys = (
        select(episodes.c.child_id)
        .where(recent)
        .group_by(episodes.c.child_id)
        .having(func.count() >= rule.threshold)
    )
    rows = (
        (
            await session.execute(
                select(episodes)
                .where(recent, episodes.c.child_id.in_(keys))
                .order_by(episodes.c.child_id, episodes.c.latest_event_at)
            )
        )
        .mappings()
        .all()
    )
    return watched(rows)


async def standing_events_between(
    session: AsyncSession, start: datetime, end: datetime
) -> Sequence[Any]:
    """Standing episode events in [start, end) with their episode's ``child_id``: what
    the links between children are made from."""
    return (
        (
            await session.execute(
                select(episode_events, episodes.c.child_id)
                .join(episodes, episodes.c.episode_key == episode_events.c.episode_key)
                .where(
                    episode_events.c.occurred_at >= start,
                    episode_events.c.occurred_at < end,
                    repository.standing_events(),
                )
            )
        )
        .mappings()
        .all()
    )


async def episodes_between(
    session: AsyncSession, child_ids: list[str], start: datetime, end: datetime
) -> list[EpisodeView]:
    """The children's standing episodes with an event in [start, end), newest first,
    with details."""
    rows = (
        (
            await session.execute(
                select(episodes)
                .where(
                    episodes.c.child_id.in_(child_ids),
                    episodes.c.latest_event_at >= start,
                    episodes.c.first_event_at < end,
                    episodes.c.withdrawn_at.is_(None),
                )
                .order_by(episodes.c.latest_event_at.desc())
            )
        )
        .mappings()
        .all()
    )
    return await repository.with_details(session, rows)
