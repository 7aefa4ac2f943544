"""The notifier's two values (pure): an :class:`Alert` and an :class:`RhiTask`, each one
row of its table (tables.py) by column name. An alert keeps this shape from the request
the consumer reads to the email the scheduler sends, in the follow-ups the notifier
raises itself and in the statuses it publishes; the repository turns rows into these
and these into rows, and nothing else changes their shape."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from schemas.messages import (
    AlertKind,
    AlertRequestedV1,
    AlertState,
    OrgKind,
    RhiTaskRequestedV1,
    RhiTaskState,
)
from services.notifier.escalation import Contact


@dataclass(frozen=True, kw_only=True, slots=True)
class Alert:
    """One alert (``notifier_alerts``): requested by the router, or raised by the
    notifier itself (an escalation, a reminder, a notice). Defaults are the table's."""

    alert_id: str
    kind: str
    recipient_code: str
    recipient_kind: str
    recipient_name: str
    recipient_email: str
    recipient_escalation_email: str | None = None
    recipient_la_code: str | None = None
    child_given_name: str
    child_family_name: str
    child_date_of_birth: date
    force_code: str
    episode_ref: str
    event_id: str
    event_message_id: str
    event_type: str
    occurred_at: datetime
    police_contact_name: str | None = None
    police_contact_phone: str | None = None
    police_contact_email: str | None = None
    reason: str
    policy_rule: str
    roll_record_id: str | None = None
    state: str
    due_at: datetime
    attempts: int = 0
    first_attempt_at: datetime | None = None
    requested_at: datetime
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    smtp_message_id: str | None = None
    last_error: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    ack_due_at: datetime | None = None
    escalation_level: int = 0
    escalated_at: datetime | None = None
    authority_code: str | None = None
    authority_name: str | None = None
    authority_email: str | None = None
    parent_alert_id: str = ""
    task_id: str | None = None
    about_recipient_name: str | None = None
    respond_by: datetime | None = None
    urgent: bool = False
    child_nhs_number: str | None = None
    recipient_out_of_hours_email: str | None = None
    police_force_email: str | None = None
    answer: str | None = None
    answer_information: str | None = None
    answered_at: datetime | None = None
    about_alert_ids: str | None = None

    @classmethod
    def requested(cls, m: AlertRequestedV1, now: datetime, ack_due_at: datetime | None) -> Alert:
        """A requested alert as it is stored: queued and due now."""
        contact = m.police_contact
        authority = m.authority
        return cls(
            alert_id=m.alert_id,
            kind=m.kind.value,
            recipient_code=m.recipient.code,
            recipient_kind=m.recipient.kind.value,
            recipient_name=m.recipient.name,
            recipient_email=m.recipient.email,
            recipient_escalation_email=m.recipient.escalation_email,
            recipient_la_code=m.recipient.la_code,
            child_given_name=m.child.given_name,
            child_family_name=m.child.family_name,
            child_date_of_birth=m.child.date_of_birth,
            force_code=m.episode.force_code,
            episode_ref=m.episode.episode_ref,
            event_id=m.episode.event_id,
            event_message_id=m.episode.event_message_id,
            event_type=m.episode.event_type.value,
            occurred_at=m.episode.occurred_at,
            police_contact_name=contact.name if contact else None,
            police_contact_phone=contact.phone if contact else None,
            police_contact_email=contact.email if contact else None,
            reason=m.reason,
            policy_rule=m.policy_rule,
            roll_record_id=m.roll_record_id,
            state=AlertState.QUEUED.value,
            due_at=now,
            attempts=0,
            requested_at=m.requested_at,
            created_at=now,
            updated_at=now,
            ack_due_at=ack_due_at,
            authority_code=authority.code if authority else None,
            authority_name=authority.name if authority else None,
            authority_email=authority.email if authority else None,
            urgent=m.urgent,
            child_nhs_number=m.child.nhs_number,
            recipient_out_of_hours_email=m.recipient.out_of_hours_email,
            police_force_email=m.police_force.email if m.police_force else None,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class RhiTask:
    """One return home interview task (``notifier_rhi_tasks``). Defaults are the table's."""

    task_id: str
    authority_code: str
    authority_name: str
    authority_email: str
    authority_escalation_email: str | None = None
    child_given_name: str
    child_family_name: str
    child_date_of_birth: date
    force_code: str
    episode_ref: str
    event_id: str
    event_message_id: str
    event_type: str
    occurred_at: datetime
    looked_after: bool = False
    returned_at: datetime
    due_at: datetime
    state: str
    requested_at: datetime
    created_at: datetime
    updated_at: datetime
    outcome_reason: str | None = None
    outcome_recorded_by: str | None = None
    outcome_recorded_at: datetime | None = None
    notes: str | None = None
    reminder_due_at: datetime | None = None
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None

    @classmethod
    def requested(
        cls,
        m: RhiTaskRequestedV1,
        now: datetime,
        due_at: datetime,
        reminder_due_at: datetime | None,
    ) -> RhiTask:
        """A requested task as it is stored: open."""
        return cls(
            task_id=m.task_id,
            authority_code=m.authority.code,
            authority_name=m.authority.name,
            authority_email=m.authority.email,
            authority_escalation_email=m.authority.escalation_email,
            child_given_name=m.child.given_name,
            child_family_name=m.child.family_name,
            child_date_of_birth=m.child.date_of_birth,
            force_code=m.episode.force_code,
            episode_ref=m.episode.episode_ref,
            event_id=m.episode.event_id,
            event_message_id=m.episode.event_message_id,
            event_type=m.episode.event_type.value,
            occurred_at=m.episode.occurred_at,
            looked_after=m.looked_after,
            returned_at=m.returned_at,
            due_at=due_at,
            state=RhiTaskState.OPEN.value,
            requested_at=m.requested_at,
            created_at=now,
            updated_at=now,
            reminder_due_at=reminder_due_at,
        )


# What a raised alert copies from the alert or task it is about: the child and the event.
ABOUT = (
    "child_given_name",
    "child_family_name",
    "child_date_of_birth",
    "force_code",
    "episode_ref",
    "event_id",
    "event_message_id",
    "event_type",
    "occurred_at",
)


def raised_alert(
    alert_id: str,
    kind: AlertKind,
    to: Contact,
    recipient_kind: OrgKind,
    about: Alert | RhiTask,
    reason: str,
    rule: str,
    now: datetime,
    *,
    parent_alert_id: str = "",
    task_id: str | None = None,
    about_recipient_name: str | None = None,
    respond_by: datetime | None = None,
    urgent: bool = False,
    about_alert_ids: str | None = None,
    answer: str | None = None,
    answer_information: str | None = None,
    answered_at: datetime | None = None,
) -> Alert:
    """An alert the notifier raises itself, about what ``about`` (an alert or a task) is
    about: the child and the event, copied; queued and due now."""
    return Alert(
        alert_id=alert_id,
        kind=kind.value,
        recipient_code=to.code,
        recipient_kind=recipient_kind.value,
        recipient_name=to.name,
        recipient_email=to.email,
        child_given_name=about.child_given_name,
        child_family_name=about.child_family_name,
        child_date_of_birth=about.child_date_of_birth,
        force_code=about.force_code,
        episode_ref=about.episode_ref,
        event_id=about.event_id,
        event_message_id=about.event_message_id,
        event_type=about.event_type,
        occurred_at=about.occurred_at,
        reason=reason[:200],
        policy_rule=rule,
        state=AlertState.QUEUED.value,
        due_at=now,
        attempts=0,
        requested_at=now,
        created_at=now,
        updated_at=now,
        parent_alert_id=parent_alert_id,
        task_id=task_id,
        about_recipient_name=about_recipient_name,
        respond_by=respond_by,
        urgent=urgent,
        about_alert_ids=about_alert_ids,
        answer=answer,
        answer_information=answer_information,
        answered_at=answered_at,
    )
