"""The police missing-episode event: the ingest payload (DESIGN §4) and its topic form."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from schemas.base import Frozen, Message, derived_id
from schemas.identifiers import ForceCode, GssCode, NhsNumber, Postcode, Upn

TextKind = Literal["line", "lines", "id", "email"]

# Never in any text of an event: C0 and C1 controls, the Unicode line and paragraph
# separators, and the bidi embeddings, overrides and isolates (they make a name read as
# something it is not). Whitespace among them (tab, CR, LF...) is one space in one-line
# text (names, phone) and kept as it is in text of several lines (an address).
_CONTROLS = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROLS_BUT_SPACES = r"\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069"
_CONTROLS_BUT_LINES = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
# One plain address: no display name, list, comment or quoting (it is printed in emails).
_EMAIL_PART = rf'[^@\s,;<>()\[\]"\\{_CONTROLS}]+'
# What may arrive, as JSON Schema patterns (the syntax is ECMA 262's, Rust's and Python's).
_PATTERNS: dict[TextKind, str] = {
    "line": f"^[^{_CONTROLS_BUT_SPACES}]*$",
    "lines": f"^[^{_CONTROLS_BUT_LINES}]*$",
    "id": f"^[^{_CONTROLS}]*$",
    "email": f"^{_EMAIL_PART}@{_EMAIL_PART}$",
}
_COMPILED = {kind: re.compile(pattern) for kind, pattern in _PATTERNS.items()}
_REFUSED = {
    "line": "must not contain control characters (e.g. NUL, ESC, bidi overrides)",
    "lines": "must not contain control characters (e.g. NUL, ESC, bidi overrides)",
    "id": "must not contain control characters or line breaks",
    "email": "must be one email address, e.g. pc.hart@police.example",
}


def clean_text(value: str, kind: TextKind = "line") -> str:
    """Text as the relay keeps it, or ``ValueError``; leading and trailing whitespace
    goes. ``line`` (names, one-line values): in NFC, so that "Jose\u0301" and "José" are
    one name, with whitespace runs as one space. ``lines`` (an address): in NFC, line
    breaks kept. ``id`` (references) and ``email``: otherwise unchanged, so that an id
    stays the one the police system sent."""
    text = value.strip()
    if kind in ("line", "lines"):
        text = unicodedata.normalize("NFC", text)
    if kind == "line":
        text = " ".join(text.split())
    if not _COMPILED[kind].fullmatch(text):
        raise ValueError(_REFUSED[kind])
    return text


@dataclass(frozen=True)
class PlainText:
    """Annotation for a text field: :func:`clean_text` runs before the length limits, and
    the JSON Schema says which characters are refused."""

    kind: TextKind = "line"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self._clean, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = _PATTERNS[self.kind]
        return json_schema

    def _clean(self, value: Any) -> Any:
        # Not a string: left to the str schema, which says so.
        return clean_text(value, self.kind) if isinstance(value, str) else value


def _limits(max_length: int, min_length: int = 0) -> StringConstraints:
    return StringConstraints(
        strip_whitespace=True, min_length=min_length or None, max_length=max_length
    )


Name = Annotated[str, _limits(100, 1), PlainText("line")]
ShortText = Annotated[str, _limits(200, 1), PlainText("line")]
Sex = Annotated[str, _limits(20), PlainText("line")]
Phone = Annotated[str, _limits(40), PlainText("line")]
Address = Annotated[str, _limits(300), PlainText("lines")]
Description = Annotated[str, _limits(500), PlainText("lines")]
EventId = Annotated[str, _limits(128, 1), PlainText("id")]
EpisodeRef = Annotated[str, _limits(64, 1), PlainText("id")]
# The force's own nominal id for the person (unique within a force): what links a
# child's episodes for sure, as far as that force goes (issue 20).
PolicePersonId = Annotated[str, _limits(64, 1), PlainText("id")]
EmailAddress = Annotated[str, _limits(254), PlainText("email")]
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
    # The episode, or one event of it, was raised in error or for the wrong child: every
    # organisation told anything is asked to disregard and delete it (issue 17).
    WITHDRAWN = "withdrawn"


# Events after which the child is no longer missing: earlier alerts still waiting for an
# acknowledgement are stood down (no escalation follows).
ENDING_EVENTS = frozenset({EventType.FOUND, EventType.RETURNED, EventType.CLOSED})
# Events whose alerts ask a recipient to look for a missing child.
MISSING_EVENTS = frozenset({EventType.REPORTED, EventType.STILL_MISSING, EventType.RISK_CHANGED})


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
    sex: Sex | None = None
    postcode: Postcode | None = None
    address: Address | None = None
    nhs_number: NhsNumber | None = None
    upn: Upn | None = None
    looked_after: bool = False
    responsible_la: GssCode | None = None
    police_person_id: PolicePersonId | None = None


class RiskV1(Frozen):
    grade: RiskGrade | None = None
    factors: list[Factor] = Field(default_factory=list, max_length=20)


class LocationV1(Frozen):
    postcode: Postcode | None = None
    description: Description | None = None


class PersonV1(Frozen):
    given_name: Name
    family_name: Name
    date_of_birth: date | None = None


class PoliceContactV1(Frozen):
    name: ShortText | None = None
    phone: Phone | None = None
    email: EmailAddress | None = None


class EpisodeEventSubmissionV1(Frozen):
    """What a police system posts to ``POST /v1/episode-events`` (DESIGN §4)."""

    event_id: EventId
    type: EventType
    occurred_at: AwareDatetime
    force_code: ForceCode
    episode_ref: EpisodeRef
    child: ChildV1
    risk: RiskV1 | None = None
    missing_from: MissingFrom | None = None
    location: LocationV1 | None = None
    found_with: list[PersonV1] = Field(default_factory=list, max_length=50)
    police_contact: PoliceContactV1 | None = None
    # Why the episode or event is withdrawn: required on ``withdrawn``, plain text.
    reason: Description | None = None

    @model_validator(mode="after")
    def _rules(self) -> EpisodeEventSubmissionV1:
        if self.type is EventType.WITHDRAWN and not self.reason:
            raise ValueError("reason: required when type is withdrawn")
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
