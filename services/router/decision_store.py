"""What deciding a review reads and writes (the port; pure).

``on_identity_decision``, ``on_child_identity_change`` (services/router/handlers.py) and
``on_alert_answer`` (services/router/disputes.py) go through a :class:`DecisionStore`:
services/router/sql_decision_store.py is the one over the handler's database session,
tests/unit/router_fakes.py an in-memory one, so the handlers are tested without a
database. Every write lands in the handler's transaction, with the messages it
publishes (services/runtime/handling.py ``Publisher``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from schemas.child_identity import ChildIdentityChangeV1, ChildIdentityV1
from schemas.messages import AlertAnswerV1, IdentityDecisionV1
from services.router.directory import Organisation
from services.router.held_review import HeldReview


@dataclass(frozen=True)
class DisputedMatch:
    """An organisation's "we do not know this child" of one roll match (ids only)."""

    force_code: str
    episode_ref: str
    org_code: str
    roll_record_id: str | None


class DecisionStore(Protocol):
    """The reviews a person decides (an organisation's roll-record reviews, same-child
    reviews, disputed matches) and the person index they change. A merge, split or
    same-child decision that cannot apply raises ``RefusedChangeError``
    (services/router/person_moves.py)."""

    async def apply_change(
        self, change: ChildIdentityChangeV1, now: datetime
    ) -> list[ChildIdentityV1]:
        """Merge or split children as ``change`` asks, once per ``change_id``; the
        episodes moved, each with its new revision."""
        ...

    async def is_child_review(self, review_id: str) -> bool:
        """Whether ``review_id`` asks "the same child as …?"."""
        ...

    async def decide_child_review(
        self, decision: IdentityDecisionV1, now: datetime
    ) -> list[ChildIdentityV1]:
        """A same-child review's decision (``match`` merges); the episodes moved. The
        first decision stands."""
        ...

    async def held_review(self, review_id: str) -> HeldReview | None:
        """An organisation's review with its event, locked until the transaction ends."""
        ...

    async def decide_review(
        self,
        review_id: str,
        state: Literal["matched", "no-match"],
        roll_record_id: str | None,
        decided_by: str,
        decided_at: datetime,
    ) -> bool:
        """Record a decision on a pending review; False when it was no longer pending."""
        ...

    async def is_dispute(self, review_id: str) -> bool: ...

    async def open_dispute(self, review_id: str, answer: AlertAnswerV1, now: datetime) -> bool:
        """Keep the dispute of ``answer``'s roll match; False when it is kept already."""
        ...

    async def dispute(self, review_id: str) -> DisputedMatch | None:
        """The dispute ``review_id``; None when it is no dispute."""
        ...

    async def decide_dispute(self, review_id: str, match: bool, by: str, at: datetime) -> bool:
        """False when ``review_id`` is no dispute, or was decided already."""
        ...

    async def organisations_for_routing(self, codes: Iterable[str]) -> dict[str, Organisation]:
        """The given organisations plus every local authority, MSET panel and police
        force of the directory."""
        ...

    async def child_of(self, force_code: str, episode_ref: str) -> str | None:
        """The episode's child in the person index, if it is linked."""
        ...

    async def pending_reviews_of_child(self, child_id: str, org_code: str) -> list[HeldReview]:
        """The child's pending reviews at ``org_code`` (any episode), oldest first."""
        ...

    async def add_roll_links(
        self, force_code: str, episode_ref: str, records: Iterable[tuple[str, str]]
    ) -> None:
        """Link the episode, surely, to these (organisation, roll record) pairs."""
        ...
