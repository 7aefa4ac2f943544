"""What an alert email may say (pure): the part of an :class:`~services.notifier.model.Alert`
that reaches the templates (rendering.py), and nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from schemas.messages import AlertRequestedV1
from services.notifier.model import Alert


@dataclass(frozen=True)
class AlertContent:
    """What an email may say about an alert: nothing else reaches the templates."""

    alert_id: str
    kind: str
    recipient_kind: str
    recipient_name: str
    recipient_email: str
    child_given_name: str
    child_family_name: str
    child_date_of_birth: date
    force_code: str
    episode_ref: str
    occurred_at: datetime
    police_contact_name: str | None = None
    police_contact_phone: str | None = None
    police_contact_email: str | None = None
    # The event the alert is about (for the notifier's own kinds, whose ``kind`` is
    # the escalation or reminder), and for those: why, about whom, and by when.
    event_type: str = ""
    reason: str = ""
    about_recipient_name: str | None = None
    respond_by: datetime | None = None
    # An answer to the police: what the organisation answered, its words, and when; a
    # withdrawal notice: the alerts it asks the organisation to delete.
    answer: str | None = None
    answer_information: str | None = None
    answered_at: datetime | None = None
    about_alert_ids: str | None = None
    # The deadline and what follows it (the next step of the escalation chain), and
    # the request's urgency; the NHS number only ever shows to a GP practice.
    recipient_code: str = ""
    recipient_escalation_email: str | None = None
    authority_code: str | None = None
    authority_name: str | None = None
    authority_email: str | None = None
    escalation_level: int = 0
    ack_due_at: datetime | None = None
    urgent: bool = False
    child_nhs_number: str | None = None

    @classmethod
    def from_alert(cls, alert: Alert) -> AlertContent:
        return cls(
            alert_id=alert.alert_id,
            kind=alert.kind,
            recipient_kind=alert.recipient_kind,
            recipient_name=alert.recipient_name,
            recipient_email=alert.recipient_email,
            child_given_name=alert.child_given_name,
            child_family_name=alert.child_family_name,
            child_date_of_birth=alert.child_date_of_birth,
            force_code=alert.force_code,
            episode_ref=alert.episode_ref,
            occurred_at=alert.occurred_at,
            police_contact_name=alert.police_contact_name,
            police_contact_phone=alert.police_contact_phone,
            police_contact_email=alert.police_contact_email,
            event_type=alert.event_type,
            reason=alert.reason,
            about_recipient_name=alert.about_recipient_name,
            respond_by=alert.respond_by,
            answer=alert.answer,
            answer_information=alert.answer_information,
            answered_at=alert.answered_at,
            about_alert_ids=alert.about_alert_ids,
            recipient_code=alert.recipient_code,
            recipient_escalation_email=alert.recipient_escalation_email,
            authority_code=alert.authority_code,
            authority_name=alert.authority_name,
            authority_email=alert.authority_email,
            escalation_level=alert.escalation_level,
            ack_due_at=alert.ack_due_at,
            urgent=alert.urgent,
            child_nhs_number=alert.child_nhs_number,
        )

    @classmethod
    def from_request(cls, m: AlertRequestedV1) -> AlertContent:
        """A requested alert's content before it is stored (no deadline yet)."""
        return cls.from_alert(Alert.requested(m, m.requested_at, None))
