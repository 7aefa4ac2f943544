"""The :class:`~services.router.decision_store.DecisionStore` over the handler's database
session: each operation is the router's existing query, in the handler's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.child_identity import ChildIdentityChangeV1, ChildIdentityV1
from schemas.messages import AlertAnswerV1, IdentityDecisionV1
from services.router import dispute_store, person_index, person_moves, repository, review_store
from services.router.decision_store import DisputedMatch
from services.router.directory import Organisation
from services.router.held_review import HeldReview


@dataclass(frozen=True)
class SqlDecisionStore:
    session: AsyncSession

    async def apply_change(
        self, change: ChildIdentityChangeV1, now: datetime
    ) -> list[ChildIdentityV1]:
        return await person_moves.apply_change(self.session, change, now)

    async def is_child_review(self, review_id: str) -> bool:
        return await person_moves.is_child_review(self.session, review_id)

    async def decide_child_review(
        self, decision: IdentityDecisionV1, now: datetime
    ) -> list[ChildIdentityV1]:
        return await person_moves.decide_review(self.session, decision, now)

    async def held_review(self, review_id: str) -> HeldReview | None:
        return await review_store.get(self.session, review_id, for_update=True)

    async def decide_review(
        self,
        review_id: str,
        state: Literal["matched", "no-match"],
        roll_record_id: str | None,
        decided_by: str,
        decided_at: datetime,
    ) -> bool:
        return await review_store.decide(
            self.session, review_id, state, roll_record_id, decided_by, decided_at
        )

    async def is_dispute(self, review_id: str) -> bool:
        return await dispute_store.is_dispute(self.session, review_id)

    async def open_dispute(self, review_id: str, answer: AlertAnswerV1, now: datetime) -> bool:
        return await dispute_store.open_dispute(self.session, review_id, answer, now)

    async def dispute(self, review_id: str) -> DisputedMatch | None:
        return await dispute_store.get(self.session, review_id)

    async def decide_dispute(self, review_id: str, match: bool, by: str, at: datetime) -> bool:
        return await dispute_store.decide(self.session, review_id, match, by, at)

    async def organisations_for_routing(self, codes: Iterable[str]) -> dict[str, Organisation]:
        return await repository.organisations_for_routing(self.session, codes)

    async def child_of(self, force_code: str, episode_ref: str) -> str | None:
        return await person_index.child_of(self.session, force_code, episode_ref)

    async def pending_reviews_of_child(self, child_id: str, org_code: str) -> list[HeldReview]:
        return await review_store.pending_for_child(self.session, child_id, org_code)

    async def add_roll_links(
        self, force_code: str, episode_ref: str, records: Iterable[tuple[str, str]]
    ) -> None:
        await person_index.add_roll_links(self.session, force_code, episode_ref, records)
