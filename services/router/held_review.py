"""An identity review as the router holds it until a person decides (pure: the types
services/router/review_store.py stores and the decision handler reads, through
services/router/decision_store.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from schemas.episode import EpisodeEventV1

# expired: a same-child review whose chosen earlier child retention removed first.
ReviewState = Literal["pending", "matched", "no-match", "expired"]
STATES: tuple[ReviewState, ...] = ("pending", "matched", "no-match", "expired")
# What a review asks (identity-reviews.v1 ``question``): which roll record an
# organisation's child is, or whether the episode's child is one seen before.
ReviewKind = Literal["roll-record", "same-child"]
KINDS: tuple[ReviewKind, ...] = ("roll-record", "same-child")


@dataclass(frozen=True)
class Candidate:
    roll_record_id: str
    score: float
    explanation: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HeldReview:
    """One review as the router keeps it. ``event_json`` holds the child's details: use
    :meth:`event` to route it, never print it."""

    review_id: str
    event_message_id: str
    org_code: str
    force_code: str
    episode_ref: str
    event_type: str
    candidates: tuple[Candidate, ...]
    state: ReviewState
    created_at: datetime
    event_json: dict[str, Any]
    roll_record_id: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None

    def event(self) -> EpisodeEventV1:
        return EpisodeEventV1.model_validate(self.event_json)

    def candidate(self, roll_record_id: str) -> Candidate | None:
        return next((c for c in self.candidates if c.roll_record_id == roll_record_id), None)

    def summary(self) -> dict[str, Any]:
        """Ids, scores and field agreements: what a reviewer's list shows (no child data)."""
        return {
            "kind": "roll-record",
            "review_id": self.review_id,
            "state": self.state,
            "created_at": self.created_at.isoformat(),
            "org_code": self.org_code,
            "force_code": self.force_code,
            "episode_ref": self.episode_ref,
            "event_type": self.event_type,
            "event_message_id": self.event_message_id,
            "candidates": [
                {
                    "roll_record_id": c.roll_record_id,
                    "score": c.score,
                    "explanation": dict(c.explanation),
                }
                for c in self.candidates
            ],
            "roll_record_id": self.roll_record_id,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
        }
