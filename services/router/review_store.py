"""The identity reviews the router holds until a person decides (queries over an
AsyncSession). A review keeps its episode event whole, so a ``match`` decision can route
it to the organisation later; it moves from ``pending`` once, never back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.episode import EpisodeEventV1
from schemas.messages import IdentityReviewV1
from services.router.deciding import CONFIRMED, DISPUTED
from services.router.held_review import KINDS as KINDS
from services.router.held_review import STATES as STATES
from services.router.held_review import Candidate as Candidate
from services.router.held_review import HeldReview as HeldReview
from services.router.held_review import ReviewKind as ReviewKind
from services.router.held_review import ReviewState as ReviewState
from services.router.person_decisions import PersonDecision, disputed
from services.router.tables import child_reviews, disputes, person_episodes, reviews
from services.runtime.prepared import hot


async def hold(
    session: AsyncSession, review: IdentityReviewV1, event: EpisodeEventV1, now: datetime
) -> bool:
    """Keep ``review`` (one organisation's candidates) with its event; False when it is
    already held (a replayed event must not reopen a decided review)."""
    org_codes = {c.org_code for c in review.candidates}
    if len(org_codes) != 1:
        raise ValueError(f"review {review.review_id}: candidates of {len(org_codes)} organisations")
    exists = await session.scalar(
        select(reviews.c.review_id).where(reviews.c.review_id == review.review_id)
    )
    if exists is not None:
        return False
    await session.execute(
        reviews.insert().values(
            review_id=review.review_id,
            event_message_id=event.message_id,
            org_code=org_codes.pop(),
            force_code=event.force_code,
            episode_ref=event.episode_ref,
            event_type=event.type.value,
            event=event.model_dump(mode="json"),
            candidates=[
                {
                    "roll_record_id": c.roll_record_id,
                    "score": c.score,
                    "explanation": dict(c.explanation),
                }
                for c in review.candidates
            ],
            state="pending",
            created_at=now,
        )
    )
    return True


def _episodes_of(child_id: Any) -> Any:
    """The (force, episode) keys of the child's episodes the police have not withdrawn."""
    return select(person_episodes.c.force_code, person_episodes.c.episode_ref).where(
        person_episodes.c.child_id == child_id, person_episodes.c.withdrawn.is_(False)
    )


# What people decided of one child (parameter ``child_id``), built once and run on the
# driver (services/runtime/prepared.py): asked on most events of a known child.
_DECIDED_REVIEWS = hot(
    select(
        reviews.c.review_id,
        reviews.c.org_code,
        reviews.c.roll_record_id,
        reviews.c.candidates,
        reviews.c.decided_at,
    ).where(
        reviews.c.state != "pending",
        tuple_(reviews.c.force_code, reviews.c.episode_ref).in_(
            _episodes_of(bindparam("child_id"))
        ),
    )
)
_DISPUTES = hot(
    select(
        disputes.c.review_id,
        disputes.c.org_code,
        disputes.c.roll_record_id,
        disputes.c.state,
        disputes.c.decided_at,
        disputes.c.created_at,
    ).where(
        tuple_(disputes.c.force_code, disputes.c.episode_ref).in_(
            _episodes_of(bindparam("child_id"))
        )
    )
)


async def decided_for_child(session: AsyncSession, child_id: str) -> list[PersonDecision]:
    """What people decided of the person index's child ``child_id`` at organisations,
    in any of its episodes not withdrawn (ids only; the store's half of
    services/router/person_decisions.py): its decided reviews, and its organisations'
    disputes of a match ("we do not know this child"), decided or not."""
    params = {"child_id": child_id}
    decided = [
        PersonDecision(
            org_code=row.org_code,
            roll_record_id=row.roll_record_id,
            shown=frozenset(c["roll_record_id"] for c in row.candidates),
            review_id=row.review_id,
            at=row.decided_at,
        )
        for row in await session.execute(_DECIDED_REVIEWS, params)
    ]
    for row in await session.execute(_DISPUTES, params):
        at = row.decided_at or row.created_at
        if row.state == DISPUTED or row.roll_record_id is None:
            decided.append(disputed(row.org_code, row.roll_record_id, row.review_id, at))
        else:
            record = row.roll_record_id
            chosen = record if row.state == CONFIRMED else None
            decided.append(
                PersonDecision(row.org_code, chosen, frozenset({record}), row.review_id, at)
            )
    return decided


async def pending_for_child(
    session: AsyncSession, child_id: str, org_code: str
) -> list[HeldReview]:
    """The pending reviews at ``org_code`` of the person index's child ``child_id``, in
    any of its episodes not withdrawn, oldest first."""
    rows = await session.execute(
        select(reviews)
        .where(
            reviews.c.state == "pending",
            reviews.c.org_code == org_code,
            tuple_(reviews.c.force_code, reviews.c.episode_ref).in_(_episodes_of(child_id)),
        )
        .order_by(reviews.c.created_at, reviews.c.review_id)
    )
    return [_held(row) for row in rows]


def _held(row: Any) -> HeldReview:
    return HeldReview(
        review_id=row.review_id,
        event_message_id=row.event_message_id,
        org_code=row.org_code,
        force_code=row.force_code,
        episode_ref=row.episode_ref,
        event_type=row.event_type,
        candidates=tuple(
            Candidate(c["roll_record_id"], float(c["score"]), dict(c.get("explanation") or {}))
            for c in row.candidates
        ),
        state=row.state,
        created_at=row.created_at,
        event_json=row.event,
        roll_record_id=row.roll_record_id,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
    )


async def get(session: AsyncSession, review_id: str, for_update: bool = False) -> HeldReview | None:
    """One review; ``for_update`` locks its row (PostgreSQL) so two copies of the router
    cannot both apply a decision."""
    query = select(reviews).where(reviews.c.review_id == review_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return _held(row) if row is not None else None


async def listing(
    session: AsyncSession, state: ReviewState | None = None, limit: int | None = None
) -> list[HeldReview]:
    """Reviews oldest first (the longest waiting at the top)."""
    query = select(reviews).order_by(reviews.c.created_at, reviews.c.review_id)
    if state is not None:
        query = query.where(reviews.c.state == state)
    if limit is not None:
        query = query.limit(limit)
    return [_held(row) for row in (await session.execute(query)).all()]


@dataclass(frozen=True)
class SameChildReview:
    """ "The same child as …?" (services/router/person_index.py asks it): the episode's
    own child and the earlier children it may be, with how many episodes each has."""

    review_id: str
    force_code: str
    episode_ref: str
    child_id: str
    candidates: tuple[tuple[str, int], ...]  # (child_id, episodes)
    state: ReviewState
    created_at: datetime
    decided_child_id: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None

    def summary(self) -> dict[str, Any]:
        """Ids and counts only, like :meth:`HeldReview.summary`."""
        return {
            "kind": "same-child",
            "review_id": self.review_id,
            "state": self.state,
            "created_at": self.created_at.isoformat(),
            "force_code": self.force_code,
            "episode_ref": self.episode_ref,
            "child_id": self.child_id,
            "candidates": [{"child_id": c, "episodes": n} for c, n in self.candidates],
            "decided_child_id": self.decided_child_id,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
        }


async def same_child_listing(
    session: AsyncSession, state: ReviewState | None = None, limit: int | None = None
) -> list[SameChildReview]:
    """Same-child reviews oldest first."""
    query = select(child_reviews).order_by(child_reviews.c.created_at, child_reviews.c.review_id)
    if state is not None:
        query = query.where(child_reviews.c.state == state)
    if limit is not None:
        query = query.limit(limit)
    rows = (await session.execute(query)).all()
    wanted = sorted({c for row in rows for c in row.candidates})
    counts: dict[str, int] = {}
    if wanted:
        counted = await session.execute(
            select(person_episodes.c.child_id, func.count())
            .where(person_episodes.c.child_id.in_(wanted))
            .group_by(person_episodes.c.child_id)
        )
        counts = {child_id: int(n) for child_id, n in counted}
    return [
        SameChildReview(
            review_id=row.review_id,
            force_code=row.force_code,
            episode_ref=row.episode_ref,
            child_id=row.child_id,
            candidates=tuple((c, counts.get(c, 0)) for c in row.candidates),
            state=row.state,
            created_at=row.created_at,
            decided_child_id=row.decided_child_id,
            decided_by=row.decided_by,
            decided_at=row.decided_at,
        )
        for row in rows
    ]


async def decide(
    session: AsyncSession,
    review_id: str,
    state: Literal["matched", "no-match"],
    roll_record_id: str | None,
    decided_by: str,
    decided_at: datetime,
) -> bool:
    """Record a decision on a pending review; False when it was no longer pending."""
    result = await session.execute(
        update(reviews)
        .where(reviews.c.review_id == review_id, reviews.c.state == "pending")
        .values(
            state=state,
            roll_record_id=roll_record_id,
            decided_by=decided_by,
            decided_at=decided_at,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def refusal(
    review: HeldReview | None, review_id: str, decision: str, roll_record_id: str | None
) -> str | None:
    """Why a decision cannot apply to ``review`` (None: it can). The CLI checks this
    before publishing, and the router again when it consumes the decision."""
    if review is None:
        return f"no identity review {review_id}"
    if review.state != "pending":
        by = f" by {review.decided_by}" if review.decided_by else ""
        at = f" at {review.decided_at.isoformat()}" if review.decided_at else ""
        return f"review {review_id} is already decided ({review.state}{by}{at})"
    if decision == "match":
        if not roll_record_id:
            return f"review {review_id}: a match must name one of its candidate roll records"
        if review.candidate(roll_record_id) is None:
            ids = ", ".join(c.roll_record_id for c in review.candidates)
            return (
                f"review {review_id}: roll record {roll_record_id} is not one of its "
                f"candidates ({ids})"
            )
    elif roll_record_id:
        return f"review {review_id}: a no-match decision names no roll record"
    return None
