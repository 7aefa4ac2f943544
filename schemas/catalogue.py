"""The topic catalogue: every topic, its message model, who produces and consumes it,
how it is keyed, and its dead-letter twin (DESIGN §1)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.base import Message
from schemas.episode import EpisodeEventSubmissionV1, EpisodeEventV1
from schemas.messages import (
    AcknowledgementV1,
    AlertAnswerV1,
    AlertRequestedV1,
    AlertStatusV1,
    DeadLetterV1,
    IdentityDecisionV1,
    IdentityReviewV1,
    IngestRejectedV1,
    RhiTaskOutcomeV1,
    RhiTaskRequestedV1,
    RhiTaskStatusV1,
)

EPISODE_KEY = "<force_code>:<episode_ref>"


@dataclass(frozen=True)
class Topic:
    name: str
    version: int
    model: type[Message] | type[EpisodeEventSubmissionV1]
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    key: str
    description: str

    @property
    def wire(self) -> str:
        """The name on the wire, e.g. ``episode-events.v1``."""
        return f"{self.name}.v{self.version}"

    @property
    def dlq(self) -> str:
        return f"{self.wire}.dlq"


POLICE_EVENTS_RAW = Topic(
    "police-events-raw",
    1,
    EpisodeEventSubmissionV1,
    ("police systems",),
    ("ingest",),
    EPISODE_KEY,
    "Events a police system publishes straight to Kafka, in the HTTP payload form.",
)
EPISODE_EVENTS = Topic(
    "episode-events",
    1,
    EpisodeEventV1,
    ("ingest",),
    ("router", "console"),
    EPISODE_KEY,
    "Accepted missing-episode events, in order per episode.",
)
INGEST_REJECTED = Topic(
    "ingest-rejected",
    1,
    IngestRejectedV1,
    ("ingest",),
    ("console",),
    "<force_code or 'unknown'>",
    "Input that ingest refused, with every reason.",
)
ALERTS_REQUESTED = Topic(
    "alerts-requested",
    1,
    AlertRequestedV1,
    ("router",),
    ("notifier", "console"),
    EPISODE_KEY,
    "One organisation to be told about one event.",
)
RHI_TASKS_REQUESTED = Topic(
    "rhi-tasks-requested",
    1,
    RhiTaskRequestedV1,
    ("router",),
    ("notifier", "console"),
    EPISODE_KEY,
    "A return home interview the responsible authority must offer.",
)
IDENTITY_REVIEWS = Topic(
    "identity-reviews",
    1,
    IdentityReviewV1,
    ("router",),
    ("console",),
    EPISODE_KEY,
    "Children the router could not match with confidence.",
)
IDENTITY_DECISIONS = Topic(
    "identity-decisions",
    1,
    IdentityDecisionV1,
    ("console",),
    ("router",),
    "<review_id>",
    "A person's decision on an identity review.",
)
ALERT_STATUS = Topic(
    "alert-status",
    1,
    AlertStatusV1,
    ("notifier",),
    ("console", "ingest"),
    "<alert_id>",
    "Every state change of an alert.",
)
RHI_TASK_STATUS = Topic(
    "rhi-task-status",
    1,
    RhiTaskStatusV1,
    ("notifier",),
    ("console",),
    "<task_id>",
    "Every state change of an RHI task.",
)
ACKNOWLEDGEMENTS = Topic(
    "acknowledgements",
    1,
    AcknowledgementV1,
    ("console",),
    ("notifier",),
    "<alert_id>",
    "A recipient confirmed an alert.",
)
ALERT_ANSWERS = Topic(
    "alert-answers",
    1,
    AlertAnswerV1,
    ("console",),
    ("notifier", "router", "ingest"),
    EPISODE_KEY,
    "A recipient's answer to an alert: the child is here now, not known, or information.",
)
RHI_TASK_OUTCOMES = Topic(
    "rhi-task-outcomes",
    1,
    RhiTaskOutcomeV1,
    ("console",),
    ("notifier",),
    "<task_id>",
    "The recorded outcome of a return home interview.",
)

TOPICS: tuple[Topic, ...] = (
    POLICE_EVENTS_RAW,
    EPISODE_EVENTS,
    INGEST_REJECTED,
    ALERTS_REQUESTED,
    RHI_TASKS_REQUESTED,
    IDENTITY_REVIEWS,
    IDENTITY_DECISIONS,
    ALERT_STATUS,
    RHI_TASK_STATUS,
    ACKNOWLEDGEMENTS,
    ALERT_ANSWERS,
    RHI_TASK_OUTCOMES,
)
DEAD_LETTER_MODEL = DeadLetterV1


def topic_by_wire(wire: str) -> Topic:
    for topic in TOPICS:
        if topic.wire == wire:
            return topic
    raise KeyError(wire)
