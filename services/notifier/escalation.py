"""Who is told next when an alert is not acknowledged in time (DESIGN §6; pure): the
organisation's escalation contact, then the child's responsible local authority."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from schemas.base import derived_id
from schemas.messages import AlertKind

# How an escalation says its alert never arrived (the templates word it differently).
UNDELIVERED = "could not be delivered"
# Levels of the chain, recorded on the original alert.
ORIGINAL, CONTACT, AUTHORITY = 0, 1, 2


@dataclass(frozen=True)
class Contact:
    code: str
    name: str
    email: str


@dataclass(frozen=True)
class Escalation:
    level: int
    kind: AlertKind
    to: Contact

    def alert_id(self, original_alert_id: str) -> str:
        return derived_id(original_alert_id, "escalation", str(self.level))


def next_escalation(
    level: int,
    recipient: Contact,
    escalation_email: str | None,
    authority: Contact | None,
) -> Escalation | None:
    """The step after ``level`` for an alert to ``recipient``; None when the chain is
    done. A step that would tell the same address again is skipped."""
    told = {recipient.email.strip().lower()}
    if level < CONTACT and escalation_email and escalation_email.strip().lower() not in told:
        return Escalation(
            CONTACT,
            AlertKind.ESCALATION,
            Contact(recipient.code, recipient.name, escalation_email),
        )
    if escalation_email:
        told.add(escalation_email.strip().lower())
    if (
        level < AUTHORITY
        and authority is not None
        and authority.code != recipient.code
        and authority.email.strip().lower() not in told
    ):
        return Escalation(AUTHORITY, AlertKind.AUTHORITY_ESCALATION, authority)
    return None


class Escalated(Protocol):
    """What the chain needs of an alert (a ``notifier_alerts`` row or its content)."""

    @property
    def recipient_code(self) -> str: ...
    @property
    def recipient_name(self) -> str: ...
    @property
    def recipient_email(self) -> str: ...
    @property
    def recipient_escalation_email(self) -> str | None: ...
    @property
    def authority_code(self) -> str | None: ...
    @property
    def authority_name(self) -> str | None: ...
    @property
    def authority_email(self) -> str | None: ...


def step_after(alert: Escalated, level: int) -> Escalation | None:
    """:func:`next_escalation` for an alert whose chain stands at ``level``."""
    authority = (
        Contact(alert.authority_code, alert.authority_name or "", alert.authority_email)
        if alert.authority_code and alert.authority_email
        else None
    )
    return next_escalation(
        level,
        Contact(alert.recipient_code, alert.recipient_name, alert.recipient_email),
        alert.recipient_escalation_email,
        authority,
    )
