"""The router's disputes of roll matches (services/router/disputes.py says why they are
kept): queries over an AsyncSession, each inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.messages import AlertAnswerV1
from services.router.deciding import CONFIRMED, DISPUTED, REFUTED
from services.router.decision_store import DisputedMatch
from services.router.tables import disputes
from services.runtime.prepared import hot


async def open_dispute(
    session: AsyncSession, review_id: str, answer: AlertAnswerV1, now: datetime
) -> bool:
    """Keep the dispute ``review_id`` of ``answer``'s match; False when it is kept already."""
    if await session.scalar(select(disputes.c.review_id).where(disputes.c.review_id == review_id)):
        return False
    await session.execute(
        disputes.insert().values(
            review_id=review_id,
            alert_id=answer.alert_id,
            force_code=answer.force_code,
            episode_ref=answer.episode_ref,
            org_code=answer.recipient_code,
            roll_record_id=answer.roll_record_id,
            state=DISPUTED,
            created_at=now,
        )
    )
    return True


_EPISODE_DISPUTES = hot(
    select(disputes.c.org_code, disputes.c.state).where(
        disputes.c.force_code == bindparam("force_code"),
        disputes.c.episode_ref == bindparam("episode_ref"),
    )
)  # built once, on the driver in a handler's step (issue 18)


async def states_for_episode(
    session: AsyncSession, force_code: str, episode_ref: str
) -> dict[str, str]:
    """Organisation code -> the state of its dispute for this episode (a refuted one
    stands over a later dispute, a confirmed one over both)."""
    params = {"force_code": force_code, "episode_ref": episode_ref}
    rows = (await session.execute(_EPISODE_DISPUTES, params)).all()
    rank = {DISPUTED: 0, REFUTED: 1, CONFIRMED: 2}
    states: dict[str, str] = {}
    for row in rows:
        if rank[row.state] >= rank.get(states.get(row.org_code, DISPUTED), 0):
            states[row.org_code] = row.state
    return states


async def get(session: AsyncSession, review_id: str) -> DisputedMatch | None:
    """The dispute ``review_id`` (ids only); None when it is no dispute."""
    row = (
        await session.execute(
            select(
                disputes.c.force_code,
                disputes.c.episode_ref,
                disputes.c.org_code,
                disputes.c.roll_record_id,
            ).where(disputes.c.review_id == review_id)
        )
    ).first()
    if row is None:
        return None
    return DisputedMatch(row.force_code, row.episode_ref, row.org_code, row.roll_record_id)


async def decide(session: AsyncSession, review_id: str, match: bool, by: str, at: datetime) -> bool:
    """A person's decision on a dispute; False when ``review_id`` is not one, or was
    decided already (the first decision stands)."""
    result = await session.execute(
        update(disputes)
        .where(disputes.c.review_id == review_id, disputes.c.state == DISPUTED)
        .values(state=CONFIRMED if match else REFUTED, decided_by=by[:200], decided_at=at)
    )
    return bool(getattr(result, "rowcount", 0))


async def is_dispute(session: AsyncSession, review_id: str) -> bool:
    found = await session.scalar(
        select(disputes.c.review_id).where(disputes.c.review_id == review_id)
    )
    return found is not None
