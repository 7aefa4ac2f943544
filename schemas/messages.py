"""Messages on the topics after ``episode-events`` (DESIGN §1). All frozen, versioned by name."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from schemas.base import Frozen, Message
from schemas.episode import EventType, PlainText, PoliceContactV1

# The router's id of one child across episodes (issue 20): a UUID, lower case.
ChildId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    ),
]

# A recipient's answer to the police: several lines of plain text.
Information = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), PlainText("lines")
]


class OrgKind(StrEnum):
    SCHOOL = "school"
    GP_PRACTICE = "gp-practice"
    YOT = "yot"
    LOCAL_AUTHORITY = "local-authority"
    MSET_PANEL = "mset-panel"
    POLICE_FORCE = "police-force"  # code = force code; answers from recipients go here


class AlertKind(StrEnum):
    """What an alert tells; one template set per recipient kind covers every alert kind."""

    REPORTED = "reported"
    RISK_CHANGED = "risk-changed"
    STILL_MISSING = "still-missing"
    FOUND = "found"
    RETURNED = "returned"
    CLOSED = "closed"
    REPEAT_MISSING = "repeat-missing"
    # Sent by the notifier itself, not requested by the router:
    ESCALATION = "escalation"  # to the organisation's escalation contact
    AUTHORITY_ESCALATION = "authority-escalation"  # then to the responsible authority
    RHI_REMINDER = "rhi-reminder"  # 48 hours after return, no interview recorded
    RHI_ESCALATION = "rhi-escalation"  # 72 hours after return, still none
    WITHDRAWN = "withdrawn"  # please disregard and delete: the episode was raised in error
    ANSWER = "answer"  # to the police: what a recipient answered on the acknowledgement page
    # An urgent alert to a local authority outside its working hours: a copy at once to
    # its out-of-hours (emergency duty) team.
    OUT_OF_HOURS = "out-of-hours"


# Kinds the notifier raises on its own: each has its own template folder.
NOTIFIER_KINDS = frozenset(
    {
        AlertKind.ESCALATION,
        AlertKind.AUTHORITY_ESCALATION,
        AlertKind.RHI_REMINDER,
        AlertKind.RHI_ESCALATION,
        AlertKind.WITHDRAWN,
        AlertKind.ANSWER,
        AlertKind.OUT_OF_HOURS,
    }
)


class RecipientV1(Frozen):
    code: str
    kind: OrgKind
    name: str
    email: str
    escalation_email: str | None = None
    la_code: str | None = None
    # A local authority's out-of-hours (emergency duty) team: told at once of a high-risk
    # episode outside the authority's working hours.
    out_of_hours_email: str | None = None


class ChildSummaryV1(Frozen):
    """The only facts about a child that leave the partnership's systems in an email."""

    given_name: str
    family_name: str
    date_of_birth: date
    # Only on alerts to a GP practice, and only when the police sent one.
    nhs_number: str | None = None


class EpisodeRefV1(Frozen):
    force_code: str
    episode_ref: str
    event_id: str
    event_message_id: str
    event_type: EventType
    occurred_at: datetime


class AlertRequestedV1(Message):
    """``alerts-requested.v1``: tell one organisation about one event. ``message_id`` is
    the alert id, derived from (event message id, recipient code, alert kind)."""

    alert_id: str
    kind: AlertKind
    recipient: RecipientV1
    child: ChildSummaryV1
    episode: EpisodeRefV1
    police_contact: PoliceContactV1 | None = None
    reason: Annotated[str, StringConstraints(max_length=200)]
    policy_rule: str
    roll_record_id: str | None = None
    requested_at: datetime
    # The child's responsible local authority: the last step when nobody acknowledges.
    authority: RecipientV1 | None = None
    # High risk or an exploitation factor: the subject starts "URGENT" and deadlines are
    # shorter (policy ``[deadlines] high_risk_hours``).
    urgent: bool = False
    # The force's own address in the directory (kind ``police-force``): where answers go
    # when the event named no police contact email.
    police_force: RecipientV1 | None = None
    # The child across episodes (the router's person index; child-identities.v1 says
    # when a merge or split moves the episode to another child).
    child_id: ChildId | None = None


class RhiTaskRequestedV1(Message):
    """``rhi-tasks-requested.v1``: the responsible authority must offer a return home
    interview; due 72 hours after the return."""

    task_id: str
    authority: RecipientV1
    child: ChildSummaryV1
    episode: EpisodeRefV1
    looked_after: bool = False
    returned_at: datetime
    due_at: datetime
    requested_at: datetime
    child_id: ChildId | None = None


class IdentityCandidateV1(Frozen):
    """A roll record the child may be (``question`` ``roll-record``: ``org_code`` and
    ``roll_record_id``), or an earlier child of the person index (``same-child``:
    ``child_id``, with the earlier episode's record)."""

    org_code: str | None = None
    roll_record_id: str | None = None
    score: float
    explanation: dict[str, str] = Field(default_factory=dict)
    # The roll record as the reviewer sees it (added in place: optional, so messages
    # without them stay valid).
    org_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: date | None = None
    postcode: str | None = None
    child_id: ChildId | None = None
    # A same-child candidate: how many episodes the earlier child has, its latest.
    episodes: int | None = None
    latest_episode_ref: str | None = None


class IdentityReviewV1(Message):
    """``identity-reviews.v1``: the router could not decide who the child is for an org
    (``roll-record``), or whether the episode's child is a child seen before
    (``same-child``: "the same child as …?"; the episode stays with its own new child
    until a person says yes)."""

    review_id: str
    episode: EpisodeRefV1
    child: ChildSummaryV1
    candidates: list[IdentityCandidateV1]
    requested_at: datetime
    question: Literal["roll-record", "same-child"] = "roll-record"
    child_id: ChildId | None = None


class IdentityDecisionV1(Message):
    """``identity-decisions.v1``: a person decided a review."""

    review_id: str
    decision: Literal["match", "no-match"]
    roll_record_id: str | None = None
    decided_by: str
    decided_at: datetime
    # A ``same-child`` review's ``match``: the earlier child the episode's child is.
    child_id: ChildId | None = None


class AlertState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    TEMPORARY_FAILURE = "temporary-failure"
    PERMANENT_FAILURE = "permanent-failure"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    CANCELLED = "cancelled"  # not sent: acknowledged, or its task closed, before it went
    # The child was found, returned or the episode closed before anyone acknowledged this
    # earlier alert: nothing more is asked of the recipient, no escalation follows.
    STOOD_DOWN = "stood-down"
    # The episode was withdrawn by the police (raised in error or for the wrong child).
    WITHDRAWN = "withdrawn"


class AlertStatusV1(Message):
    """``alert-status.v1``: an alert changed state."""

    alert_id: str
    state: AlertState
    kind: AlertKind
    recipient_code: str
    recipient_kind: OrgKind
    force_code: str
    episode_ref: str
    event_message_id: str
    attempt: int = 0
    detail: Annotated[str, StringConstraints(max_length=500)] | None = None
    at: datetime
    # Added in place (optional): who the alert is to and which event it tells of, so a
    # reader needs no other topic to say who was told what.
    recipient_name: str | None = None
    event_type: EventType | None = None


class RhiTaskState(StrEnum):
    OPEN = "open"
    REMINDED = "reminded"
    ESCALATED = "escalated"
    COMPLETED = "completed"
    DECLINED = "declined"
    NOT_POSSIBLE = "not-possible"
    WITHDRAWN = "withdrawn"  # the episode was withdrawn by the police


class RhiTaskStatusV1(Message):
    """``rhi-task-status.v1``: an RHI task was opened or changed."""

    task_id: str
    state: RhiTaskState
    authority_code: str
    force_code: str
    episode_ref: str
    due_at: datetime
    note: Annotated[str, StringConstraints(max_length=500)] | None = None
    at: datetime


class AcknowledgementV1(Message):
    """``acknowledgements.v1``: a recipient confirmed an alert."""

    alert_id: str
    acknowledged_at: datetime
    by: Annotated[str, StringConstraints(max_length=200)] | None = None


class Answer(StrEnum):
    """What a recipient can answer on the acknowledgement page (each also acknowledges)."""

    HERE_NOW = "here-now"  # the child is with us now
    NOT_KNOWN = "not-known"  # we do not know this child: the match was wrong
    INFORMATION = "information"  # information for the police


class AlertAnswerV1(Message):
    """``alert-answers.v1``: a recipient answered an alert, keyed by episode. ``here-now``
    and ``information`` go to the police; ``not-known`` sends the roll match back to
    identity review. ``information`` is the recipient's own words: never in a log."""

    alert_id: str
    answer: Answer
    information: Information | None = None
    answered_at: datetime
    force_code: str
    episode_ref: str
    event_message_id: str
    recipient_code: str
    recipient_kind: OrgKind
    recipient_name: str
    roll_record_id: str | None = None

    @model_validator(mode="after")
    def _information_with_information(self) -> AlertAnswerV1:
        if self.answer is Answer.INFORMATION and not self.information:
            raise ValueError("information: required when the answer is information")
        return self


class RhiOutcome(StrEnum):
    COMPLETED = "completed"
    DECLINED = "declined"
    NOT_POSSIBLE = "not-possible"


class RhiTaskOutcomeV1(Message):
    """``rhi-task-outcomes.v1``: the result of a return home interview."""

    task_id: str
    outcome: RhiOutcome
    reason: Annotated[str, StringConstraints(max_length=1000)] | None = None
    recorded_by: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    recorded_at: datetime

    @model_validator(mode="after")
    def _reason_when_not_possible(self) -> RhiTaskOutcomeV1:
        if self.outcome is RhiOutcome.NOT_POSSIBLE and not self.reason:
            raise ValueError("reason: required when the outcome is not-possible")
        return self


class FieldErrorV1(Frozen):
    field: str
    message: str


class IngestRejectedV1(Message):
    """``ingest-rejected.v1``: input that ingest refused, with every reason."""

    received_at: datetime
    channel: Literal["http", "file", "kafka"]
    source: str
    force_code: str | None = None
    event_id: str | None = None
    errors: list[FieldErrorV1]


class DeadLetterV1(Message):
    """``<topic>.dlq``: a message a consumer could not process, with the reason."""

    topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    consumer: str
    error: Annotated[str, StringConstraints(max_length=2000)]
    failed_at: datetime
    payload: Any = None
