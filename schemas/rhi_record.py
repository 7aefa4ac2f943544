"""The return home interview as an RHI team records it (issue 21; DOMAIN: return home
interviews): ``rhi-task-outcomes.v2``.

**Why a topic of its own, not a version field on v1's topic.** Every topic in the
catalogue is versioned on the wire (``<name>.v<n>``) with one model per topic, and every
model refuses unknown fields (``extra="forbid"``): a v1 reader handed a v2 body on the
same topic would dead-letter it, so "a version field" would break the readers of v1 the
day the first v2 message went out. On ``rhi-task-outcomes.v2`` the v2 model travels on
its own, with its own JSON Schema, examples and dead-letter twin, and nothing a v1 reader
sees changes.

**How the readers of v1 keep working.** Every producer (the console's form, ``relay
tasks complete``) publishes the record on v2 *and* its v1 projection (:meth:`as_v1`:
outcome, reason, who and when) on ``rhi-task-outcomes.v1``, in the same transaction
(the console's outbox). The notifier reads v1 as it always has: closing the task needs
nothing more, and the record's restricted parts (where the child was and with whom, the
child's own words) never reach a service that does not need them (DOMAIN: share only
what is relevant). The console reads v2 into its read model (figures, compliance from
``interviewed_at``). v1 is retired once no reader is left; until then both go out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from schemas.base import Frozen, Message, derived_id
from schemas.episode import PlainText
from schemas.messages import FieldErrorV1, RhiOutcome, RhiTaskOutcomeV1


class OfferMethod(StrEnum):
    """How the interview was offered."""

    IN_PERSON = "in-person"
    PHONE = "phone"
    LETTER = "letter"
    OTHER = "other"


class HarmKind(StrEnum):
    """Harm the child disclosed (DOMAIN: risks met while missing)."""

    GROOMING = "grooming"
    VIOLENCE = "violence"
    SEXUAL_EXPLOITATION = "sexual-exploitation"
    CRIMINAL_EXPLOITATION = "criminal-exploitation"
    DRUGS = "drugs"
    TRAFFICKING = "trafficking"
    OTHER = "other"


class Referral(StrEnum):
    """Where the child was referred on after the interview."""

    CHILDRENS_SOCIAL_CARE = "childrens-social-care"
    CAMHS = "camhs"
    SUBSTANCE_MISUSE = "substance-misuse"
    EXPLOITATION_TEAM = "exploitation-team"
    POLICE = "police"


# Push and pull factors are the partnership's own lists (policy ``[rhi]``); these are
# the defaults, after the factors RHI teams commonly record (DOMAIN.md).
DEFAULT_PUSH_FACTORS: tuple[str, ...] = (
    "family-conflict",
    "domestic-abuse",
    "abuse-or-neglect",
    "substance-misuse-at-home",
    "problems-at-school",
    "bullying",
    "loneliness",
)
DEFAULT_PULL_FACTORS: tuple[str, ...] = (
    "friends-or-family-elsewhere",
    "boyfriend-or-girlfriend",
    "peer-pressure",
    "parties",
    "drugs-or-alcohol",
    "someone-exploiting-them",
)

# A factor is a slug from the policy's list: the message stays free of prose.
FactorName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=60),
]
PersonName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), PlainText("line")
]
Organisation = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), PlainText("line")
]
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), PlainText("lines")
]
Account = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), PlainText("lines")
]
ChildWords = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000), PlainText("lines")
]


class RhiOfferV2(Frozen):
    """The offer of an interview: when, how, and whether the child accepted it."""

    offered_at: datetime
    method: OfferMethod
    accepted: bool


class InterviewerV2(Frozen):
    """Who interviewed the child. The guidance asks for someone not involved in the
    child's care: ``independent`` says whether they were."""

    name: PersonName
    organisation: Organisation | None = None
    independent: bool


class RhiTaskOutcomeV2(Message):
    """``rhi-task-outcomes.v2``: a return home interview as recorded, keyed by task id.

    ``whereabouts``, ``with_whom`` and ``child_words`` are **restricted**: shown only to
    the child's authority and the MSET chair, never in an email, a log or the figures.
    ``reason`` is required when the outcome is ``declined`` or ``not-possible``;
    ``interviewed_at`` and ``interviewer`` when it is ``completed`` (and only then)."""

    task_id: str
    outcome: RhiOutcome
    reason: Reason | None = None
    recorded_by: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    recorded_at: datetime
    offer: RhiOfferV2 | None = None
    interviewed_at: datetime | None = None
    interviewer: InterviewerV2 | None = None
    whereabouts: Account | None = None  # where the child was while missing
    with_whom: Account | None = None
    push_factors: list[FactorName] = Field(default_factory=list, max_length=30)
    pull_factors: list[FactorName] = Field(default_factory=list, max_length=30)
    harm_disclosed: bool | None = None
    harm_kinds: list[HarmKind] = Field(default_factory=list, max_length=len(HarmKind))
    child_words: ChildWords | None = None
    referrals: list[Referral] = Field(default_factory=list, max_length=len(Referral))
    shared_with_police: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RhiTaskOutcomeV2:
        problems = consistency_problems(self)
        if problems:
            # The first, named by its field (schemas.errors.field_errors splits it off).
            raise ValueError(f"{problems[0].field}: {problems[0].message}")
        return self

    def as_v1(self) -> RhiTaskOutcomeV1:
        """The v1 message for the readers of ``rhi-task-outcomes.v1`` (the notifier):
        the outcome and who recorded it, nothing of the interview itself."""
        return RhiTaskOutcomeV1(
            message_id=derived_id(self.message_id, "v1"),
            task_id=self.task_id,
            outcome=self.outcome,
            reason=self.reason,
            recorded_by=self.recorded_by,
            recorded_at=self.recorded_at,
        )


def _problem(field: str, message: str) -> FieldErrorV1:
    return FieldErrorV1(field=field, message=message)


def consistency_problems(record: RhiTaskOutcomeV2) -> list[FieldErrorV1]:
    """What does not fit together in a record, each naming its field."""
    out: list[FieldErrorV1] = []
    completed = record.outcome is RhiOutcome.COMPLETED
    if record.outcome is not RhiOutcome.COMPLETED and not record.reason:
        out.append(_problem("reason", f"required when the outcome is {record.outcome.value}"))
    if completed and record.interviewed_at is None:
        out.append(_problem("interviewed_at", "required when the interview was completed"))
    if completed and record.interviewer is None:
        out.append(_problem("interviewer.name", "required when the interview was completed"))
    if not completed and record.interviewed_at is not None:
        out.append(
            _problem("interviewed_at", "an interview that took place is recorded as completed")
        )
    offer = record.offer
    if offer is not None:
        if completed and not offer.accepted:
            out.append(_problem("offer.accepted", "a completed interview was accepted"))
        if record.outcome is RhiOutcome.DECLINED and offer.accepted:
            out.append(_problem("offer.accepted", "a declined interview was not accepted"))
        if record.interviewed_at is not None and record.interviewed_at < offer.offered_at:
            out.append(_problem("interviewed_at", "is before the interview was offered"))
        if offer.offered_at > record.recorded_at:
            out.append(_problem("offer.offered_at", "is in the future"))
    if record.interviewed_at is not None and record.interviewed_at > record.recorded_at:
        out.append(_problem("interviewed_at", "is in the future"))
    if record.harm_kinds and record.harm_disclosed is not True:
        out.append(_problem("harm_kinds", "only when harm was disclosed"))
    for name in ("push_factors", "pull_factors", "harm_kinds", "referrals"):
        values: Sequence[str] = getattr(record, name)
        if len(set(values)) != len(values):
            out.append(_problem(name, "lists a value twice"))
    return out


def timing_problems(
    record: RhiTaskOutcomeV2, returned_at: datetime, now: datetime
) -> list[FieldErrorV1]:
    """The record against the child's return and the clock: an offer or interview before
    the return, or after ``now``, is a typing error the producer refuses."""
    out: list[FieldErrorV1] = []
    when = [("offer.offered_at", record.offer.offered_at if record.offer else None)]
    when.append(("interviewed_at", record.interviewed_at))
    for field, moment in when:
        if moment is None:
            continue
        if moment < returned_at:
            out.append(_problem(field, "is before the child's return"))
        elif moment > now:
            out.append(_problem(field, "is in the future"))
    return out


def factor_problems(
    record: RhiTaskOutcomeV2, push: Sequence[str], pull: Sequence[str]
) -> list[FieldErrorV1]:
    """Push and pull factors not in the partnership's lists (policy ``[rhi]``)."""
    out: list[FieldErrorV1] = []
    for field, chosen, allowed in (
        ("push_factors", record.push_factors, push),
        ("pull_factors", record.pull_factors, pull),
    ):
        unknown = [f for f in chosen if f not in allowed]
        if unknown:
            out.append(
                _problem(
                    field,
                    f"{', '.join(unknown)} not in the policy's list ({', '.join(allowed)})",
                )
            )
    return out
