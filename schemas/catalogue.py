"""The topic catalogue: every topic, its message model, who produces and consumes it,
how it is keyed, and its dead-letter twin (DESIGN §1)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.base import Message
from schemas.child_identity import ChildIdentityChangeV1, ChildIdentityV1
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
from schemas.panel import PanelActionV1
from schemas.rhi_record import RhiTaskOutcomeV2

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
    ("console", "router"),
    ("router", "console"),
    "<review_id>",
    "A person's decision on an identity review.",
)
# One child across episodes (issue 20; schemas/child_identity.py says why two topics).
CHILD_IDENTITIES = Topic(
    "child-identities",
    1,
    ChildIdentityV1,
    ("router",),
    ("console", "notifier"),
    EPISODE_KEY,
    "Which child (child_id) an episode belongs to: on its first link, and again with a "
    "higher revision whenever a review, merge or split moves it. Readers keep the "
    "highest revision.",
)
CHILD_IDENTITY_CHANGES = Topic(
    "child-identity-changes",
    1,
    ChildIdentityChangeV1,
    ("console",),
    ("router",),
    "<child_id>",
    "A person's request to merge two children or split episodes off a child; the router "
    "applies it and publishes the moved episodes on child-identities.",
)
PANEL_ACTIONS = Topic(
    "panel-actions",
    1,
    PanelActionV1,
    ("console",),
    ("notifier",),
    "<action_id>",
    "An MSET panel action's owner, due date and state (open, done): the notifier emails "
    "the owner organisation's escalation address the day after an open action falls due.",
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
    "The recorded outcome of a return home interview (what closes the task); each is the "
    "v1 projection of a record on rhi-task-outcomes.v2, published beside it.",
)
# A topic of its own, not a version field on v1's: see schemas/rhi_record.py.
RHI_TASK_OUTCOMES_V2 = Topic(
    "rhi-task-outcomes",
    2,
    RhiTaskOutcomeV2,
    ("console",),
    ("console",),
    "<task_id>",
    "A return home interview as recorded: the offer, the interview and who did it, push "
    "and pull factors, harm disclosed, referrals, and (restricted) where the child was, "
    "with whom and in their own words. Published by the console and `relay tasks "
    "complete` beside its v1 projection.",
)

TOPICS: tuple[Topic, ...] = (
    POLICE_EVENTS_RAW,
    EPISODE_EVENTS,
    INGEST_REJECTED,
    ALERTS_REQUESTED,
    RHI_TASKS_REQUESTED,
    IDENTITY_REVIEWS,
    IDENTITY_DECISIONS,
    CHILD_IDENTITIES,
    CHILD_IDENTITY_CHANGES,
    PANEL_ACTIONS,
    ALERT_STATUS,
    RHI_TASK_STATUS,
    ACKNOWLEDGEMENTS,
    ALERT_ANSWERS,
    RHI_TASK_OUTCOMES,
    RHI_TASK_OUTCOMES_V2,
)
DEAD_LETTER_MODEL = DeadLetterV1


def topic_by_wire(wire: str) -> Topic:
    for topic in TOPICS:
        if topic.wire == wire:
            return topic
    raise KeyError(wire)
