"""What routing an episode event reads and writes (the port; pure).

``on_episode_event`` (services/router/handlers.py) loads, decides and persists through a
:class:`RoutingStore`: services/router/sql_routing_store.py is the one over the handler's
database session, tests/unit/router_fakes.py an in-memory one, so the handler is tested
without a database. Every write lands in the handler's transaction, with the messages it
publishes (services/runtime/handling.py ``Publisher``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from schemas.child_identity import ChildIdentityV1
from schemas.episode import ChildV1, EpisodeEventV1
from schemas.messages import IdentityReviewV1
from services.router.directory import Organisation, RollRecord
from services.router.matching import MatchDecision
from services.router.model import MatchingModel
from services.router.outgoing import AwaitedRhiTask
from services.router.person_decisions import PersonDecision


@dataclass(frozen=True)
class Linked:
    """An event's episode and its child; what to publish because of it."""

    child_id: str
    announcements: tuple[ChildIdentityV1, ...] = ()
    review: IdentityReviewV1 | None = None


class RoutingStore(Protocol):
    """The router's data as routing an episode event sees it: the rolls and directory,
    the episode's disputes, the person index, the child's episode history, RHI tasks
    waiting for a return and identity reviews held for a person."""

    async def matching_model(self, loaded: MatchingModel) -> MatchingModel:
        """The model to score this event with: ``loaded`` with the name frequencies of
        the roll the candidates come from (services/router/name_frequencies.py)."""
        ...

    async def candidates(self, child: ChildV1) -> list[RollRecord]:
        """Every roll record that could be ``child`` (a superset: the matcher decides)."""
        ...

    async def dispute_states(self, force_code: str, episode_ref: str) -> dict[str, str]:
        """Organisation code -> the state of its dispute of this episode's match."""
        ...

    async def link_episode(
        self,
        event: EpisodeEventV1,
        decisions: Sequence[MatchDecision],
        now: datetime,
        model: MatchingModel,
    ) -> Linked:
        """The episode's child in the person index (linked on its first event)."""
        ...

    async def person_decisions(self, child_id: str) -> list[PersonDecision]:
        """What people decided of the child at organisations: its decided reviews and
        its organisations' disputes, in any order (services/router/person_decisions.py
        takes the latest at each)."""
        ...

    async def add_roll_links(
        self, force_code: str, episode_ref: str, records: Iterable[tuple[str, str]]
    ) -> None:
        """Link the episode to roll records (organisation, record) a person's earlier
        decision matched: the same record is the same child."""
        ...

    async def record_reported(
        self, force_code: str, episode_ref: str, reported_at: datetime
    ) -> None:
        """Count a reported episode in its child's history, once."""
        ...

    async def forget_episode(self, force_code: str, episode_ref: str) -> None:
        """A withdrawn episode no longer counts in the child's history."""
        ...

    async def reported_history(
        self, child_id: str, force_code: str, episode_ref: str
    ) -> tuple[list[datetime], bool]:
        """When the child's episodes were reported, and whether this one was flagged as
        repeat missing already."""
        ...

    async def mark_repeat_flagged(self, force_code: str, episode_ref: str) -> None: ...

    async def organisations_for_routing(self, codes: Iterable[str]) -> dict[str, Organisation]:
        """The given organisations plus every local authority, MSET panel and police
        force of the directory."""
        ...

    async def await_return(self, awaited: AwaitedRhiTask, now: datetime) -> bool:
        """Leave an RHI task waiting for the episode's ``returned``; False when the
        episode has a waiting row already."""
        ...

    async def returned(
        self, force_code: str, episode_ref: str, now: datetime, remember: bool
    ) -> bool:
        """A ``returned``: True when it opens its own RHI task (none was opened from
        ``found``); ``remember`` leaves a row for a ``found`` arriving later."""
        ...

    async def withdraw_awaited(self, force_code: str, episode_ref: str, now: datetime) -> None:
        """The episode was withdrawn: a task still waiting is never opened."""
        ...

    async def hold_review(
        self, review: IdentityReviewV1, event: EpisodeEventV1, now: datetime
    ) -> bool:
        """Keep an organisation's identity review with its event until a person
        decides; False when it is held already."""
        ...
