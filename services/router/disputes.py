"""A recipient said "we do not know this child" (``alert-answers``, issue 17): the roll
match that sent them the alert is disputed. Until a person confirms it, later events of
the episode do not reach that organisation as a match: while disputed each goes to
identity review, and once refuted the organisation is not told. The console shows the
answer as an identity review with the dispute's ``review_id``; its decision comes back
on ``identity-decisions``."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.base import derived_id
from schemas.messages import AlertAnswerV1, Answer, OrgKind
from services.router.deciding import CONFIRMED, DISPUTED, REFUTED
from services.router.tables import disputes
from services.runtime.database import utcnow
from services.runtime.handling import Outbox

log = logging.getLogger(__name__)

# Only a roll match can be wrong this way: the local authority and the panel are told
# because of the episode, not because the child is on their roll.
_ROLL_KINDS = frozenset({OrgKind.SCHOOL, OrgKind.GP_PRACTICE, OrgKind.YOT})


def dispute_id(alert_id: str) -> str:
    """The review that decides a dispute (the console derives the same id)."""
    return derived_id(alert_id, "not-known")


async def on_alert_answer(session: AsyncSession, answer: AlertAnswerV1, out: Outbox) -> None:
    if answer.answer is not Answer.NOT_KNOWN:
        return
    if answer.recipient_kind not in _ROLL_KINDS:
        log.info(
            "router: alert %s answered not-known by a %s: not a roll match; nothing to dispute",
            answer.alert_id,
            answer.recipient_kind.value,
        )
        return
    review_id = dispute_id(answer.alert_id)
    if await session.scalar(select(disputes.c.review_id).where(disputes.c.review_id == review_id)):
        return
    await session.execute(
        disputes.insert().values(
            review_id=review_id,
            alert_id=answer.alert_id,
            force_code=answer.force_code,
            episode_ref=answer.episode_ref,
            org_code=answer.recipient_code,
            roll_record_id=answer.roll_record_id,
            state=DISPUTED,
            created_at=utcnow(),
        )
    )
    log.info(
        "router: match of alert %s to %s disputed (review %s)",
        answer.alert_id,
        answer.recipient_code,
        review_id,
    )


_EPISODE_DISPUTES = select(disputes.c.org_code, disputes.c.state).where(
    disputes.c.force_code == bindparam("force_code"),
    disputes.c.episode_ref == bindparam("episode_ref"),
)  # built once (issue 18)


async def states_for_episode(
    session: AsyncSession, force_code: str, episode_ref: str
) -> dict[str, str]:
    """Organisation code -> the state of its dispute for this episode (a refuted one
    stands over a later dispute, a confirmed one over both)."""
    params = {"force_code": force_code, "episode_ref": episode_ref}
    rows = await session.execute(_EPISODE_DISPUTES, params)
    rank = {DISPUTED: 0, REFUTED: 1, CONFIRMED: 2}
    states: dict[str, str] = {}
    for org_code, state in rows:
        if rank[state] >= rank.get(states.get(org_code, DISPUTED), 0):
            states[org_code] = state
    return states


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
