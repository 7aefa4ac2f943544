"""One child across episodes (issue 20): the router's person index, as the other
services follow it.

**Who owns "the same child".** The router: it links every episode to a ``child_id``
(police person id within a force, NHS number, the same roll record, or a confident
probabilistic match against earlier episodes' children; a doubtful one is an identity
review, ``identity-reviews.v1`` with ``question = "same-child"``). Alerts, RHI tasks and
reviews carry the ``child_id`` the episode had when they were made.

**How every read model follows.** ``child-identities.v1`` (router -> console, notifier)
says, per episode, which child it belongs to now: one message when the episode is first
linked, and one more each time a reviewed link, a merge or a split moves it. Each has the
episode's ``revision`` (1, 2, …): a reader keeps the link with the highest revision and
ignores an older one arriving late (a replay, another partition's lag), so readers
converge whatever the order. Keyed by episode, like ``episode-events``.

**Merges and splits are commands to the owner.** A mash user or MSET chair asks in the
console; the console publishes ``child-identity-changes.v1`` (console -> router, keyed
by the child changed), audited in the console; the router checks it again (never a
child into itself; different dates of birth only when confirmed), applies it to the
person index and publishes the moved episodes on ``child-identities.v1``. The console
refuses a bad request on its form before publishing; the router's own check dead-letters
one that got past (another console copy decided first), never half-applies it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from schemas.base import Frozen, Message, derived_id
from schemas.episode import PlainText
from schemas.messages import ChildId

# Why a person merged or split: plain text, several lines allowed.
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), PlainText("lines")
]


class LinkBasis(StrEnum):
    """Why an episode belongs to its child."""

    POLICE_PERSON_ID = "police-person-id"  # the force's own nominal id, same force
    NHS_NUMBER = "nhs-number"
    ROLL_RECORD = "roll-record"  # matched the same roll record at some organisation
    MATCHED = "matched"  # a confident match against an earlier episode's child
    NEW = "new"  # no earlier child: a new one (or a doubtful match, under review)
    REVIEWED = "reviewed"  # a person said "the same child as …"
    MERGED = "merged"
    SPLIT = "split"
    MIGRATED = "migrated"  # linked before the person index (router migration 0006)


class ChildIdentityV1(Message):
    """``child-identities.v1``: episode ``force_code``/``episode_ref`` belongs to
    ``child_id`` as of ``revision`` (the highest revision wins). ``previous_child_id`` is
    the child it belonged to before (a merge, a split, a review)."""

    child_id: ChildId
    force_code: str
    episode_ref: str
    revision: int = Field(ge=1)
    basis: LinkBasis
    previous_child_id: ChildId | None = None
    # The merge, split or review decision that moved it, and who asked.
    change_id: str | None = None
    changed_by: Annotated[str, StringConstraints(max_length=200)] | None = None
    at: datetime

    @staticmethod
    def id_for(force_code: str, episode_ref: str, revision: int) -> str:
        return derived_id("child-link", force_code, episode_ref, str(revision))


class EpisodeKeyV1(Frozen):
    force_code: str
    episode_ref: str


class ChildIdentityChangeV1(Message):
    """``child-identity-changes.v1``: a person asks the router to ``merge`` child
    ``child_id`` into ``into_child_id`` (every episode of the first becomes the second's),
    or to ``split`` ``episodes`` off ``child_id`` into a new child (its id:
    :meth:`new_child_id`). ``message_id`` is ``change_id``."""

    change_id: str
    action: Literal["merge", "split"]
    child_id: ChildId
    into_child_id: ChildId | None = None
    episodes: list[EpisodeKeyV1] = Field(default_factory=list, max_length=500)
    # Two children with different dates of birth are merged only when the person said so.
    confirmed_different_dates_of_birth: bool = False
    reason: Reason
    requested_by: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    requested_at: datetime

    @model_validator(mode="after")
    def _shape(self) -> ChildIdentityChangeV1:
        if self.action == "merge":
            if self.into_child_id is None:
                raise ValueError("into_child_id: required to merge")
            if self.into_child_id == self.child_id:
                raise ValueError("into_child_id: a child cannot be merged into itself")
            if self.episodes:
                raise ValueError("episodes: a merge moves every episode; name none")
        else:
            if not self.episodes:
                raise ValueError("episodes: name the episodes to split off")
            if self.into_child_id is not None:
                raise ValueError("into_child_id: a split makes a new child; name none")
        return self

    @property
    def new_child_id(self) -> str:
        """The child a split makes: derived from the change, so a replay makes the same."""
        return str(derived_id("child", "split", self.change_id))
