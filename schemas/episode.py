"""The police missing-episode event: the ingest payload (DESIGN §4) and its topic form."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from schemas.base import Frozen, Message, derived_id
from schemas.identifiers import ForceCode, GssCode, NhsNumber, Postcode, Upn

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Factor = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[a-z][a-z0-9-]{0,39}$")
]


class EventType(StrEnum):
    REPORTED = "reported"
    RISK_CHANGED = "risk-changed"
    STILL_MISSING = "still-missing"
    FOUND = "found"
    RETURNED = "returned"
    CLOSED = "closed"


class RiskGrade(StrEnum):
    NO_APPARENT_RISK = "no-apparent-risk"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class MissingFrom(StrEnum):
    HOME = "home"
    CARE = "care"
    EDUCATION = "education"
    OTHER = "other"


EXPLOITATION_FACTORS = frozenset({"cse", "cce", "county-lines", "trafficking"})


class ChildV1(Frozen):
    given_name: Name
    family_name: Name
    date_of_birth: date
    sex: Annotated[str, StringConstraints(max_length=20)] | None = None
    postcode: Postcode | None = None
    address: Annotated[str, StringConstraints(max_length=300)] | None = None
    nhs_number: NhsNumber | None = None
    upn: Upn | None = None
    looked_after: bool = False
    responsible_la: GssCode | None = None


class RiskV1(Frozen):
    grade: RiskGrade | None = None
    factors: list[Factor] = Field(default_factory=list, max_length=20)


class LocationV1(Frozen):
    postcode: Postcode | None = None
    description: Annotated[str, StringConstraints(max_length=500)] | None = None


class PersonV1(Frozen):
    given_name: Name
    family_name: Name
    date_of_birth: date | None = None


class PoliceContactV1(Frozen):
    name: ShortText | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    email: (
        Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] | None
    ) = None


class EpisodeEventSubmissionV1(Frozen):
    """What a police system posts to ``POST /v1/episode-events`` (DESIGN §4)."""

    event_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    type: EventType
    occurred_at: AwareDatetime
    force_code: ForceCode
    episode_ref: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    child: ChildV1
    risk: RiskV1 | None = None
    missing_from: MissingFrom | None = None
    location: LocationV1 | None = None
    found_with: list[PersonV1] = Field(default_factory=list, max_length=50)
    police_contact: PoliceContactV1 | None = None

    @model_validator(mode="after")
    def _rules(self) -> EpisodeEventSubmissionV1:
        if self.type in (EventType.REPORTED, EventType.RISK_CHANGED) and (
            self.risk is None or self.risk.grade is None
        ):
            raise ValueError(f"risk.grade: required when type is {self.type.value}")
        born = self.child.date_of_birth
        on = self.occurred_at.date()
        if born > on:
            raise ValueError("child.date_of_birth: is after occurred_at")
        if (on.year - born.year - ((on.month, on.day) < (born.month, born.day))) >= 18:
            raise ValueError("child.date_of_birth: the subject is 18 or over on occurred_at")
        return self

    @property
    def episode_key(self) -> str:
        """The Kafka key of ``episode-events``: one episode's events stay in order."""
        return f"{self.force_code}:{self.episode_ref}"


def episode_message_id(force_code: str, event_id: str) -> str:
    return derived_id("episode-event", force_code, event_id)


class EpisodeEventV1(EpisodeEventSubmissionV1, Message):
    """An accepted event on ``episode-events.v1``, keyed ``<force_code>:<episode_ref>``."""

    accepted_at: datetime
    source: Annotated[str, StringConstraints(max_length=100)]
