"""Hand-written fakes for the router's handlers: an in-memory
:class:`~services.router.routing_store.RoutingStore` and
:class:`~services.router.decision_store.DecisionStore` (the outbox:
tests/unit/fake_outbox.py). The real store's queries are tested on a database
(tests/integration)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from schemas.child_identity import ChildIdentityChangeV1, ChildIdentityV1, LinkBasis
from schemas.episode import ChildV1, EpisodeEventV1, EventType
from schemas.messages import AlertAnswerV1, IdentityDecisionV1, IdentityReviewV1, OrgKind
from services.router import gp_coverage
from services.router.awaiting_return import OPENED, RETURNED, WAITING, WITHDRAWN
from services.router.deciding import CONFIRMED, DISPUTED, REFUTED
from services.router.decision_store import DisputedMatch
from services.router.directory import Organisation, RollRecord
from services.router.held_review import HeldReview
from services.router.matching import MatchDecision
from services.router.model import MatchingModel
from services.router.name_frequencies import for_matching, of_roll
from services.router.outgoing import AwaitedRhiTask
from services.router.person_decisions import PersonDecision
from services.router.person_index import new_child_id
from services.router.person_moves import RefusedChangeError
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
    # What a person decided for a child (the real store reads the decided reviews).
    decided: dict[str, list[PersonDecision]] = field(default_factory=dict)

    async def matching_model(self, loaded: MatchingModel) -> MatchingModel:
        named = for_matching(loaded, of_roll(self.rolls)).model
        return gp_coverage.for_matching(named, gp_coverage.of_records(self.rolls))[0]

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

    async def person_decisions(self, child_id: str) -> list[PersonDecision]:
        return list(self.decided.get(child_id, []))

    async def add_roll_links(
        self, force_code: str, episode_ref: str, records: Iterable[tuple[str, str]]
    ) -> None:
        for org_code, record_id in records:
            self.roll_links.add(((force_code, episode_ref), org_code, record_id))

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


@dataclass
class ChildReview:
    """A same-child review as the fake keeps it: the episode and its candidates."""

    episode: Episode
    candidates: tuple[str, ...]
    state: str = "pending"
    decided_child_id: str | None = None


@dataclass
class MemoryDecisionStore:
    """The reviews a person decides and the person index they change, in dictionaries.
    An episode's child has a revision; a move is announced with the next one. Unlike
    the real store, merges do not compare dates of birth."""

    organisations: dict[str, Organisation] = field(default_factory=dict)
    index: dict[Episode, tuple[str, int]] = field(default_factory=dict)
    reviews: dict[str, HeldReview] = field(default_factory=dict)
    child_reviews: dict[str, ChildReview] = field(default_factory=dict)
    disputes: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (org, state)
    disputed: dict[str, DisputedMatch] = field(default_factory=dict)  # id -> its match
    roll_links: set[tuple[Episode, str, str]] = field(default_factory=set)
    changes: set[str] = field(default_factory=set)

    def link(self, child_id: str, *episodes: Episode) -> None:
        for episode in episodes:
            self.index[episode] = (child_id, 1)

    def episodes_of(self, child_id: str) -> list[Episode]:
        return [e for e, (c, _) in self.index.items() if c == child_id]

    def _move(
        self,
        keys: Sequence[Episode],
        to: str,
        basis: LinkBasis,
        change_id: str,
        by: str,
        at: datetime,
    ) -> list[ChildIdentityV1]:
        moved = []
        for episode in keys:
            child_id, revision = self.index[episode]
            if child_id == to:
                continue
            self.index[episode] = (to, revision + 1)
            moved.append(
                ChildIdentityV1(
                    message_id=ChildIdentityV1.id_for(*episode, revision + 1),
                    child_id=to,
                    force_code=episode[0],
                    episode_ref=episode[1],
                    revision=revision + 1,
                    basis=basis,
                    previous_child_id=child_id,
                    change_id=change_id,
                    changed_by=by,
                    at=at,
                )
            )
        return moved

    def _merge(
        self, child_id: str, into: str, change_id: str, by: str, at: datetime, basis: LinkBasis
    ) -> list[ChildIdentityV1]:
        if change_id in self.changes:
            return []
        if child_id == into:
            raise RefusedChangeError("a child cannot be merged into itself")
        if not self.episodes_of(child_id) or not self.episodes_of(into):
            raise RefusedChangeError("a child of the merge has no episode")
        self.changes.add(change_id)
        return self._move(self.episodes_of(child_id), into, basis, change_id, by, at)

    async def apply_change(
        self, change: ChildIdentityChangeV1, now: datetime
    ) -> list[ChildIdentityV1]:
        by = change.requested_by
        if change.action == "merge":
            assert change.into_child_id is not None
            return self._merge(
                change.child_id, change.into_child_id, change.change_id, by, now, LinkBasis.MERGED
            )
        if change.change_id in self.changes:
            return []
        keys = [(e.force_code, e.episode_ref) for e in change.episodes]
        theirs = set(self.episodes_of(change.child_id))
        if not set(keys) <= theirs:
            raise RefusedChangeError(f"an episode is not child {change.child_id}'s")
        if set(keys) >= theirs:
            raise RefusedChangeError("a split must leave the child at least one episode")
        self.changes.add(change.change_id)
        return self._move(keys, change.new_child_id, LinkBasis.SPLIT, change.change_id, by, now)

    async def is_child_review(self, review_id: str) -> bool:
        return review_id in self.child_reviews

    async def decide_child_review(
        self, decision: IdentityDecisionV1, now: datetime
    ) -> list[ChildIdentityV1]:
        review = self.child_reviews.get(decision.review_id)
        if review is None:
            raise RefusedChangeError(f"no same-child review {decision.review_id}")
        if review.state != "pending":
            return []
        moved: list[ChildIdentityV1] = []
        review.state = "no-match"
        if decision.decision == "match":
            chosen = decision.child_id
            if chosen is None or chosen not in review.candidates:
                raise RefusedChangeError(f"review {decision.review_id}: not a candidate")
            review.state = "matched" if self.episodes_of(chosen) else "expired"
            current = self.index[review.episode][0]
            if review.state == "matched" and current != chosen:
                moved = self._merge(
                    current,
                    chosen,
                    decision.message_id,
                    decision.decided_by,
                    now,
                    LinkBasis.REVIEWED,
                )
            review.decided_child_id = chosen if review.state == "matched" else None
        return moved

    async def held_review(self, review_id: str) -> HeldReview | None:
        return self.reviews.get(review_id)

    async def decide_review(
        self,
        review_id: str,
        state: Literal["matched", "no-match"],
        roll_record_id: str | None,
        decided_by: str,
        decided_at: datetime,
    ) -> bool:
        review = self.reviews.get(review_id)
        if review is None or review.state != "pending":
            return False
        self.reviews[review_id] = replace(
            review,
            state=state,
            roll_record_id=roll_record_id,
            decided_by=decided_by,
            decided_at=decided_at,
        )
        return True

    async def is_dispute(self, review_id: str) -> bool:
        return review_id in self.disputes

    async def open_dispute(self, review_id: str, answer: AlertAnswerV1, now: datetime) -> bool:
        if review_id in self.disputes:
            return False
        self.disputes[review_id] = (answer.recipient_code, DISPUTED)
        self.disputed[review_id] = DisputedMatch(
            answer.force_code, answer.episode_ref, answer.recipient_code, answer.roll_record_id
        )
        return True

    async def dispute(self, review_id: str) -> DisputedMatch | None:
        return self.disputed.get(review_id)

    async def decide_dispute(self, review_id: str, match: bool, by: str, at: datetime) -> bool:
        if review_id not in self.disputes or self.disputes[review_id][1] != DISPUTED:
            return False
        org_code = self.disputes[review_id][0]
        self.disputes[review_id] = (org_code, CONFIRMED if match else REFUTED)
        return True

    async def organisations_for_routing(self, codes: Iterable[str]) -> dict[str, Organisation]:
        return await MemoryRoutingStore(self.organisations).organisations_for_routing(codes)

    async def child_of(self, force_code: str, episode_ref: str) -> str | None:
        found = self.index.get((force_code, episode_ref))
        return found[0] if found is not None else None

    async def pending_reviews_of_child(self, child_id: str, org_code: str) -> list[HeldReview]:
        episodes = set(self.episodes_of(child_id))
        return [
            r
            for r in sorted(self.reviews.values(), key=lambda r: (r.created_at, r.review_id))
            if r.state == "pending"
            and r.org_code == org_code
            and (r.force_code, r.episode_ref) in episodes
        ]

    async def add_roll_links(
        self, force_code: str, episode_ref: str, records: Iterable[tuple[str, str]]
    ) -> None:
        for org_code, record_id in records:
            self.roll_links.add(((force_code, episode_ref), org_code, record_id))
