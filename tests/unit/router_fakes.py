"""A hand-written fake for the router's handlers: an in-memory
:class:`~services.router.routing_store.RoutingStore` (the outbox:
tests/unit/fake_outbox.py). The real store's queries are tested on a database
(tests/integration)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from schemas.child_identity import ChildIdentityV1, LinkBasis
from schemas.episode import ChildV1, EpisodeEventV1, EventType
from schemas.messages import IdentityReviewV1, OrgKind
from services.router.awaiting_return import OPENED, RETURNED, WAITING, WITHDRAWN
from services.router.deciding import DISPUTED
from services.router.directory import Organisation, RollRecord
from services.router.matching import MatchDecision
from services.router.model import MatchingModel
from services.router.outgoing import AwaitedRhiTask
from services.router.person_index import new_child_id
from services.router.routing_store import Linked

Episode = tuple[str, str]  # (force_code, episode_ref)
_ALWAYS_ROUTED = {OrgKind.LOCAL_AUTHORITY, OrgKind.MSET_PANEL, OrgKind.POLICE_FORCE}


@dataclass
class MemoryRoutingStore:
    """The router's data in dictionaries. The person index is simpler than the real
    one: a child is its name and date of birth (the real index weighs the evidence)."""

    organisations: dict[str, Organisation] = field(default_factory=dict)
    rolls: list[RollRecord] = field(default_factory=list)
    disputes: dict[Episode, dict[str, str]] = field(default_factory=dict)
    children: dict[Episode, str] = field(default_factory=dict)
    withdrawn: set[Episode] = field(default_factory=set)
    roll_links: set[tuple[Episode, str, str]] = field(default_factory=set)
    # The child's history: when each episode was reported, and whether it was flagged.
    reported: dict[Episode, tuple[datetime, bool]] = field(default_factory=dict)
    awaiting: dict[Episode, tuple[str, AwaitedRhiTask | None]] = field(default_factory=dict)
    held: dict[str, tuple[IdentityReviewV1, EpisodeEventV1]] = field(default_factory=dict)
    people: dict[str, ChildV1] = field(default_factory=dict)

    async def candidates(self, child: ChildV1) -> list[RollRecord]:
        return list(self.rolls)

    async def dispute_states(self, force_code: str, episode_ref: str) -> dict[str, str]:
        return dict(self.disputes.get((force_code, episode_ref), {}))

    def dispute(self, force_code: str, episode_ref: str, org_code: str) -> None:
        self.disputes.setdefault((force_code, episode_ref), {})[org_code] = DISPUTED

    async def link_episode(
        self,
        event: EpisodeEventV1,
        decisions: Sequence[MatchDecision],
        now: datetime,
        model: MatchingModel,
    ) -> Linked:
        episode = (event.force_code, event.episode_ref)
        for d in decisions:
            if d.decision == "match":
                self.roll_links.add((episode, d.org_code, d.roll_record_id))
        if event.type is EventType.WITHDRAWN:
            self.withdrawn.add(episode)
        if episode in self.children:
            return Linked(self.children[episode])
        earlier = self._same_child(event.child)
        child_id = earlier or new_child_id(*episode)
        self.children[episode] = child_id
        link = ChildIdentityV1(
            message_id=ChildIdentityV1.id_for(*episode, 1),
            child_id=child_id,
            force_code=event.force_code,
            episode_ref=event.episode_ref,
            revision=1,
            basis=LinkBasis.MATCHED if earlier else LinkBasis.NEW,
            at=now,
        )
        self.people[child_id] = event.child
        return Linked(child_id, (link,))

    def _same_child(self, child: ChildV1) -> str | None:
        same = (child.given_name, child.family_name, child.date_of_birth)
        for child_id, known in self.people.items():
            if (known.given_name, known.family_name, known.date_of_birth) == same:
                return child_id
        return None

    async def record_reported(
        self, force_code: str, episode_ref: str, reported_at: datetime
    ) -> None:
        self.reported.setdefault((force_code, episode_ref), (reported_at, False))

    async def forget_episode(self, force_code: str, episode_ref: str) -> None:
        self.reported.pop((force_code, episode_ref), None)

    async def reported_history(
        self, child_id: str, force_code: str, episode_ref: str
    ) -> tuple[list[datetime], bool]:
        mine = {e: r for e, r in self.reported.items() if self.children.get(e) == child_id}
        flagged = mine.get((force_code, episode_ref), (None, False))[1]
        return [at for at, _ in mine.values()], flagged

    async def mark_repeat_flagged(self, force_code: str, episode_ref: str) -> None:
        episode = (force_code, episode_ref)
        if episode in self.reported:
            self.reported[episode] = (self.reported[episode][0], True)

    async def organisations_for_routing(self, codes: Iterable[str]) -> dict[str, Organisation]:
        wanted = set(codes)
        return {
            code: org
            for code, org in self.organisations.items()
            if code in wanted or org.kind in _ALWAYS_ROUTED
        }

    async def await_return(self, awaited: AwaitedRhiTask, now: datetime) -> bool:
        episode = (awaited.task.episode.force_code, awaited.task.episode.episode_ref)
        if episode in self.awaiting:
            return False
        self.awaiting[episode] = (WAITING, awaited)
        return True

    async def returned(
        self, force_code: str, episode_ref: str, now: datetime, remember: bool
    ) -> bool:
        episode = (force_code, episode_ref)
        state = self.awaiting.get(episode, (None, None))[0]
        if state == WAITING:
            self.awaiting[episode] = (RETURNED, None)
            return True
        if state is None and remember:
            self.awaiting[episode] = (RETURNED, None)
        return state != OPENED

    async def withdraw_awaited(self, force_code: str, episode_ref: str, now: datetime) -> None:
        episode = (force_code, episode_ref)
        if self.awaiting.get(episode, (None, None))[0] == WAITING:
            self.awaiting[episode] = (WITHDRAWN, None)

    def open_due(self, now: datetime) -> list[AwaitedRhiTask]:
        """What the router's loop (awaiting_return.open_due) opens at ``now``."""
        due = [
            (episode, awaited)
            for episode, (state, awaited) in self.awaiting.items()
            if state == WAITING and awaited is not None and awaited.open_at <= now
        ]
        for episode, _ in due:
            self.awaiting[episode] = (OPENED, None)
        return [awaited for _, awaited in due]

    async def hold_review(
        self, review: IdentityReviewV1, event: EpisodeEventV1, now: datetime
    ) -> bool:
        if len({c.org_code for c in review.candidates}) != 1:
            raise ValueError(f"review {review.review_id}: candidates of several organisations")
        if review.review_id in self.held:
            return False
        self.held[review.review_id] = (review, event)
        return True
