"""``GET /v1/episodes/{force_code}/{episode_ref}``: what a police force sees of one of its
episodes (DESIGN §10, issue 17): the events ingest accepted, and who was told, whether
they read it and what they answered. Nothing about the child: the force sent that."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from schemas.base import Frozen
from schemas.episode import EventType
from schemas.messages import AlertKind, AlertState, Answer, OrgKind


class AcceptedEventV1(Frozen):
    """One event of the episode, as ingest accepted it."""

    event_id: str
    type: EventType
    accepted_at: datetime


class RecipientAlertV1(Frozen):
    """One alert to a recipient and how far it got."""

    alert_id: str
    kind: AlertKind = Field(description="What the alert told, e.g. reported, found, escalation.")
    event_type: EventType | None = Field(
        description="The type of the event it told of; null when the notifier did not say."
    )
    state: AlertState = Field(description="Its latest state.")
    sent_at: datetime | None = Field(description="When the recipient's mail server took it.")
    acknowledged_at: datetime | None
    answer: Answer | None = Field(
        description="The recipient's answer on the acknowledgement page; the text of an "
        "`information` answer goes to the police contact by email, never here."
    )
    answered_at: datetime | None


class RecipientStatusV1(Frozen):
    """An organisation that was told about the episode, with its alerts."""

    organisation_code: str
    organisation_name: str | None = Field(
        description="As in the directory; null when no message has named it yet."
    )
    kind: OrgKind
    alerts: list[RecipientAlertV1]


class EpisodeStatusV1(Frozen):
    """One episode of the asking force: its events in accepted order, and every
    organisation told about it, in the order they were first alerted."""

    force_code: str
    episode_ref: str
    events: list[AcceptedEventV1]
    recipients: list[RecipientStatusV1]
