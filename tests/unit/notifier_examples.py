"""Messages and rows for the notifier's handler tests (tests/unit/test_notifier_*handlers.py):
one child, a council and a school, an episode's events."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from schemas.base import derived_id
from schemas.episode import EventType
from schemas.messages import (
    AlertKind,
    AlertRequestedV1,
    ChildSummaryV1,
    EpisodeRefV1,
    OrgKind,
    RecipientV1,
    RhiTaskState,
)
from services.notifier.model import Alert, RhiTask

# Monday 7 December 2026, 17:00 GMT.
MONDAY_EVENING = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
CHILD_ID = "5b0c8a43-6f0e-4d4e-9a51-0e2f3c1d7a10"
CHILD = ChildSummaryV1(given_name="Amelia", family_name="O'Neill", date_of_birth=date(2013, 4, 7))
COUNCIL = RecipientV1(
    code="E06000057",
    kind=OrgKind.LOCAL_AUTHORITY,
    name="Northumberland Council",
    email="missing@council.example",
    escalation_email="duty@council.example",
)
SCHOOL = RecipientV1(
    code="100001",
    kind=OrgKind.SCHOOL,
    name="Morpeth School",
    email="dsl@school.example",
    escalation_email="head@school.example",
    la_code=COUNCIL.code,
)


def episode(
    event_type: EventType = EventType.REPORTED,
    at: datetime = MONDAY_EVENING,
    episode_ref: str = "MP/1",
    n: int = 1,
) -> EpisodeRefV1:
    event_id = f"{episode_ref}-{event_type.value}-{n}"
    return EpisodeRefV1(
        force_code="10",
        episode_ref=episode_ref,
        event_id=event_id,
        event_message_id=derived_id("episode-event", "10", event_id),
        event_type=event_type,
        occurred_at=at,
    )


def request(ep: EpisodeRefV1, to: RecipientV1, **changes: Any) -> AlertRequestedV1:
    kind = AlertKind(ep.event_type.value)
    alert_id = derived_id(ep.event_message_id, to.code, kind.value)
    m = AlertRequestedV1(
        message_id=alert_id,
        alert_id=alert_id,
        kind=kind,
        recipient=to,
        child=CHILD,
        child_id=CHILD_ID,
        episode=ep,
        reason="on roll",
        policy_rule=f"{kind.value}.test",
        requested_at=ep.occurred_at,
        authority=COUNCIL,
    )
    return m.model_copy(update=changes)


def sent(m: AlertRequestedV1, **changes: Any) -> Alert:
    """``m`` as the scheduler left it: delivered, waiting for an acknowledgement."""
    at = m.episode.occurred_at
    values: dict[str, Any] = {"state": "sent", "sent_at": at, "ack_due_at": at + timedelta(days=1)}
    return replace(Alert.requested(m, at, None), **{**values, **changes})


def open_task(ep: EpisodeRefV1, returned_at: datetime) -> RhiTask:
    return RhiTask(
        task_id=derived_id(ep.event_message_id, COUNCIL.code, "rhi"),
        authority_code=COUNCIL.code,
        authority_name=COUNCIL.name,
        authority_email=COUNCIL.email,
        child_given_name=CHILD.given_name,
        child_family_name=CHILD.family_name,
        child_date_of_birth=CHILD.date_of_birth,
        force_code=ep.force_code,
        episode_ref=ep.episode_ref,
        event_id=ep.event_id,
        event_message_id=ep.event_message_id,
        event_type=ep.event_type.value,
        occurred_at=ep.occurred_at,
        returned_at=returned_at,
        due_at=returned_at + timedelta(hours=72),
        state=RhiTaskState.OPEN.value,
        requested_at=returned_at,
        created_at=returned_at,
        updated_at=returned_at,
    )
