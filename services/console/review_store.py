"""The identity reviews the console holds, with the child's initials and year of birth
from the episode (services/console/reviews.py shows them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.console.tables import episodes, identity_reviews

SHOWN = 200


def _query() -> Any:
    return (
        select(identity_reviews, episodes.c.initials, episodes.c.birth_year)
        .outerjoin(episodes, episodes.c.episode_key == identity_reviews.c.episode_key)
        .where(identity_reviews.c.requested_at.is_not(None))
    )


async def pending(session: AsyncSession) -> Sequence[Any]:
    """Undecided reviews, oldest first."""
    return await _all(
        session,
        _query()
        .where(identity_reviews.c.decision.is_(None))
        .order_by(identity_reviews.c.requested_at, identity_reviews.c.review_id)
        .limit(SHOWN),
    )


async def decided(session: AsyncSession) -> Sequence[Any]:
    """Decided reviews, the latest decision first."""
    return await _all(
        session,
        _query()
        .where(identity_reviews.c.decision.is_not(None))
        .order_by(identity_reviews.c.decided_at.desc())
        .limit(SHOWN),
    )


async def review(session: AsyncSession, review_id: str) -> Any:
    return (
        (await session.execute(_query().where(identity_reviews.c.review_id == review_id)))
        .mappings()
        .first()
    )


async def _all(session: AsyncSession, query: Any) -> Sequence[Any]:
    return (await session.execute(query)).mappings().all()
