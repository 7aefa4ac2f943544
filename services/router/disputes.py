"""A recipient said "we do not know this child" (``alert-answers``, issue 17): the roll
match that sent them the alert is disputed. Until a person confirms it, later events of
the episode do not reach that organisation as a match: while disputed each goes to
identity review, and once refuted the organisation is not told. The console shows the
answer as an identity review with the dispute's ``review_id``; its decision comes back
on ``identity-decisions``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.base import derived_id
from schemas.messages import AlertAnswerV1, Answer, OrgKind
from services.router.decision_store import DecisionStore
from services.router.sql_decision_store import SqlDecisionStore
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
    await dispute_match(SqlDecisionStore(session), answer)


async def dispute_match(
    store: DecisionStore, answer: AlertAnswerV1, clock: Callable[[], datetime] = utcnow
) -> bool:
    """A ``not-known`` answer to a roll match opens its dispute; True when it did."""
    if answer.answer is not Answer.NOT_KNOWN:
        return False
    if answer.recipient_kind not in _ROLL_KINDS:
        log.info(
            "router: alert %s answered not-known by a %s: not a roll match; nothing to dispute",
            answer.alert_id,
            answer.recipient_kind.value,
        )
        return False
    review_id = dispute_id(answer.alert_id)
    if not await store.open_dispute(review_id, answer, clock()):
        return False
    log.info(
        "router: match of alert %s to %s disputed (review %s)",
        answer.alert_id,
        answer.recipient_code,
        review_id,
    )
    return True
