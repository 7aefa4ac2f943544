"""The notifier's typed path without a database or a mail server: a requested alert as
the one :class:`Alert` value (services/notifier/model.py) through the email, the
in-memory mailer (services/notifier/memory_mail.py), the raised follow-ups and the
status message. The same steps on PostgreSQL and aiosmtpd are in tests/integration."""

from __future__ import annotations

import email.policy
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import UTC, date, datetime
from email import message_from_bytes
from typing import Any

from pydantic import BaseModel

from schemas.base import derived_id
from schemas.catalogue import ALERT_STATUS, RHI_TASK_STATUS, Topic
from schemas.episode import EventType, PoliceContactV1
from schemas.messages import (
    AlertKind,
    AlertRequestedV1,
    AlertState,
    AlertStatusV1,
    ChildSummaryV1,
    EpisodeRefV1,
    OrgKind,
    RecipientV1,
    RhiTaskRequestedV1,
    RhiTaskState,
    RhiTaskStatusV1,
)
from services.notifier.delivery import FailureKind, SendFailure, message_id
from services.notifier.escalation import Contact
from services.notifier.memory_mail import InMemoryMailer
from services.notifier.model import Alert, RhiTask, raised_alert
from services.notifier.rendering import Renderer
from services.notifier.repository import Claimed
from services.notifier.scheduler import attempt
from services.notifier.statuses import publish_alert_status, publish_task_status
from services.notifier.tables import alerts, rhi_tasks

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
SCHOOL = "office@school.example"


def request(email: str = SCHOOL) -> AlertRequestedV1:
    episode = EpisodeRefV1(
        force_code="10",
        episode_ref="E123",
        event_id="ev-1",
        event_message_id=derived_id("episode-event", "10", "ev-1"),
        event_type=EventType.REPORTED,
        occurred_at=NOW,
    )
    alert_id = derived_id(episode.event_message_id, "100001", AlertKind.REPORTED.value)
    return AlertRequestedV1(
        message_id=alert_id,
        alert_id=alert_id,
        kind=AlertKind.REPORTED,
        recipient=RecipientV1(
            code="100001", kind=OrgKind.SCHOOL, name="Hillside Primary", email=email
        ),
        child=ChildSummaryV1(
            given_name="Amelia", family_name="Oakes", date_of_birth=date(2013, 4, 7)
        ),
        episode=episode,
        police_contact=PoliceContactV1(name="PC Hart", phone="0191 555 0100"),
        reason="on roll",
        policy_rule="reported.default",
        requested_at=NOW,
    )


def renderer() -> Renderer:
    return Renderer("https://console.example/", "Relay <relay@relay.example>")


@dataclass
class RecordingOutbox:
    """Stands in for services.runtime.handling.Outbox: what a handler published."""

    published: list[tuple[Topic, str | None, BaseModel]] = field(default_factory=list)

    async def publish(self, topic: Topic, key: str | None, message: BaseModel) -> None:
        self.published.append((topic, key, message))


def test_the_alert_and_the_task_are_their_tables_column_for_column() -> None:
    for model, table in ((Alert, alerts), (RhiTask, rhi_tasks)):
        assert [f.name for f in fields(model)] == [c.name for c in table.columns]
        for f in fields(model):
            column = table.c[f.name]
            if f.default is not MISSING:
                # A value left out is stored as the table would store it.
                default: Any = column.default.arg if column.default is not None else None
                assert f.default == default, f.name
            else:
                assert not column.nullable, f.name


async def test_a_requested_alert_goes_out_as_one_email_to_its_recipient() -> None:
    alert = Alert.requested(request(), NOW, None)
    assert alert.state == AlertState.QUEUED.value and alert.due_at == NOW
    mailer = InMemoryMailer()
    async with mailer.session() as smtp:
        attempted = await attempt(renderer(), smtp, Claimed(alert, 1), NOW)
    assert attempted.failure is None
    assert attempted.alert is alert and attempted.attempt == 1
    assert {"child.given_name", "child.family_name", "episode.force_code"} <= set(attempted.fields)
    [sent] = mailer.to(SCHOOL)
    assert sent.envelope_from == "relay@relay.example"
    message = message_from_bytes(sent.raw, policy=email.policy.default)
    assert message["Message-ID"] == message_id(alert.alert_id)
    assert message["X-Relay-Alert-Id"] == alert.alert_id
    assert "Hillside Primary" in message["To"]
    assert mailer.delivered == [sent] and mailer.refused == []


async def test_a_refused_recipient_is_the_attempt_s_failure_and_nothing_is_delivered() -> None:
    refusal = SendFailure(FailureKind.PERMANENT, "550 no such mailbox", 550)
    mailer = InMemoryMailer(refusals={SCHOOL: refusal})
    alert = Alert.requested(request(), NOW, None)
    async with mailer.session() as smtp:
        attempted = await attempt(renderer(), smtp, Claimed(alert, 2), NOW)
    assert attempted.failure == refusal
    assert mailer.delivered == [] and mailer.refused == [(SCHOOL, refusal)]


async def test_an_alert_that_cannot_be_written_fails_for_good_without_sending() -> None:
    alert = replace(
        Alert.requested(request(), NOW, None), recipient_email="a@x.example, b@x.example"
    )
    mailer = InMemoryMailer()
    async with mailer.session() as smtp:
        attempted = await attempt(renderer(), smtp, Claimed(alert, 1), NOW)
    assert attempted.failure is not None
    assert attempted.failure.kind is FailureKind.PERMANENT
    assert attempted.failure.detail.startswith("cannot build the email")
    assert mailer.delivered == [] and mailer.refused == []


def test_a_raised_alert_copies_the_child_and_the_event_and_nothing_of_the_recipient() -> None:
    alert = Alert.requested(request(), NOW, None)
    raised = raised_alert(
        "esc-1",
        AlertKind.ESCALATION,
        Contact("100001", "Hillside Primary", "head@school.example"),
        OrgKind.SCHOOL,
        alert,
        "x" * 300,
        "escalation.test",
        NOW,
        parent_alert_id=alert.alert_id,
    )
    for name in ("child_given_name", "child_date_of_birth", "episode_ref", "event_message_id"):
        assert getattr(raised, name) == getattr(alert, name)
    assert raised.recipient_email == "head@school.example"
    assert raised.police_contact_name is None  # not copied: the request's own
    assert raised.state == AlertState.QUEUED.value and raised.parent_alert_id == alert.alert_id
    assert len(raised.reason) == 200


async def test_the_statuses_of_an_alert_and_a_task_carry_their_ids_and_kinds() -> None:
    out = RecordingOutbox()
    alert = Alert.requested(request(), NOW, None)
    await publish_alert_status(out, alert, AlertState.QUEUED, NOW)  # type: ignore[arg-type]
    m = request()
    task = RhiTask.requested(
        RhiTaskRequestedV1(
            message_id="task-1",
            task_id="task-1",
            authority=RecipientV1(
                code="E06000057", kind=OrgKind.LOCAL_AUTHORITY, name="Council", email="c@x.example"
            ),
            child=m.child,
            episode=m.episode,
            returned_at=NOW,
            due_at=NOW,
            requested_at=NOW,
        ),
        NOW,
        NOW,
        None,
    )
    await publish_task_status(out, task, RhiTaskState.OPEN, NOW)  # type: ignore[arg-type]
    [(topic, key, status), (task_topic, task_key, task_status)] = out.published
    assert (topic, key) == (ALERT_STATUS, alert.alert_id)
    assert isinstance(status, AlertStatusV1)
    assert status.kind is AlertKind.REPORTED and status.recipient_kind is OrgKind.SCHOOL
    assert status.event_type is EventType.REPORTED and status.state is AlertState.QUEUED
    assert (task_topic, task_key) == (RHI_TASK_STATUS, "task-1")
    assert isinstance(task_status, RhiTaskStatusV1) and task_status.due_at == NOW
