"""The :class:`~services.router.routing_store.RoutingStore` over the handler's database
session: each operation is the router's existing query, in the handler's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.episode import ChildV1, EpisodeEventV1
from schemas.messages import IdentityReviewV1
from services.router import awaiting_return, dispute_store, person_index, repository, review_store
from services.router.directory import Organisation, RollRecord
from services.router.matching import MatchDecision
from services.router.model import MatchingModel
from services.router.outgoing import AwaitedRhiTask
from services.router.person_decisions import PersonDecision
from services.router.routing_store import Linked


@dataclass(frozen=True)
class SqlRoutingStore:
    session: AsyncSession

    async def matching_model(self, loaded: MatchingModel) -> MatchingModel:
        return await repository.matching_model(self.session, loaded)

    async def candidates(self, child: ChildV1) -> list[RollRecord]:
        return await repository.candidates(self.session, child)

    async def dispute_states(self, force_code: str, episode_ref: str) -> dict[str, str]:
        return await dispute_store.states_for_episode(self.session, force_code, episode_ref)

    async def link_episode(
        self,
        event: EpisodeEventV1,
        decisions: Sequence[MatchDecision],
        now: datetime,
        model: MatchingModel,
    ) -> Linked:
        return await person_index.link_episode(self.session, event, decisions, now, model)

    async def person_decisions(self, child_id: str) -> list[PersonDecision]:
        return await review_store.decided_for_child(self.session, child_id)

    async def add_roll_links(
        self, force_code: str, episode_ref: str, records: Iterable[tuple[str, str]]
    ) -> None:
        await person_index.add_roll_links(self.session, force_code, episode_ref, records)

    async def record_reported(
        self, force_code: str, episode_ref: str, reported_at: datetime
    ) -> None:
        await repository.record_reported(self.session, force_code, episode_ref, reported_at)

    async def forget_episode(self, force_code: str, episode_ref: str) -> None:
        await repository.forget_episode(self.session, force_code, episode_ref)

    async def reported_history(
        self, child_id: str, force_code: str, episode_ref: str
    ) -> tuple[list[datetime], bool]:
        return await person_index.reported_history(self.session, child_id, force_code, episode_ref)

    async def mark_repeat_flagged(self, force_code: str, episode_ref: str) -> None:
        await repository.mark_repeat_flagged(self.session, force_code, episode_ref)

    async def organisations_for_routing(self, codes: Iterable[str]) -> dict[str, Organisation]:
        return await repository.organisations_for_routing(self.session, codes)

    async def await_return(self, awaited: AwaitedRhiTask, now: datetime) -> bool:
        return await awaiting_return.wait(self.session, awaited, now)

    async def returned(
        self, force_code: str, episode_ref: str, now: datetime, remember: bool
    ) -> bool:
        return await awaiting_return.returned(
            self.session, force_code, episode_ref, now, remember=remember
        )

    async def withdraw_awaited(self, force_code: str, episode_ref: str, now: datetime) -> None:
        await awaiting_return.withdraw(self.session, force_code, episode_ref, now)

    async def hold_review(
        self, review: IdentityReviewV1, event: EpisodeEventV1, now: datetime
    ) -> bool:
        return await review_store.hold(self.session, review, event, now=now)
