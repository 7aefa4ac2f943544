"""An urgent alert to a local authority outside its working hours (DESIGN §10, issue 17):
its out-of-hours (emergency duty) team is told at once, rather than the alert waiting
in a closed office's inbox until morning.

The notice is an alert row of its own, raised like an escalation
(services/notifier/follow_ups.py): sent, retried and recorded like any other; its id
derives from the alert it copies, so a redelivered request raises it once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from schemas.base import derived_id
from schemas.messages import NOTIFIER_KINDS, AlertKind, AlertState, OrgKind
from services.notifier.alert_store import AlertStore
from services.notifier.deadlines import at_work
from services.notifier.escalation import Contact
from services.notifier.model import Alert, raised_alert
from services.notifier.policy import DeliveryPolicy
from services.notifier.statuses import publish_alert_status
from services.runtime.handling import Publisher

log = logging.getLogger(__name__)


def notice_due(alert: Alert, at: datetime, policy: DeliveryPolicy) -> bool:
    """``alert`` (just stored) needs its authority's out-of-hours team
    told now: urgent, requested for a local authority that has such a team (at another
    address), and the authority not at work at ``at``."""
    team = (alert.recipient_out_of_hours_email or "").strip().lower()
    return (
        bool(alert.urgent)
        and bool(team)
        and team != alert.recipient_email.strip().lower()
        and alert.recipient_kind == OrgKind.LOCAL_AUTHORITY.value
        and AlertKind(alert.kind) not in NOTIFIER_KINDS
        and not at_work(at, OrgKind.LOCAL_AUTHORITY, policy)
    )


def notice_values(alert: Alert, at: datetime) -> Alert:
    """The notice: to the out-of-hours team, about what ``alert`` is about."""
    return raised_alert(
        derived_id(alert.alert_id, AlertKind.OUT_OF_HOURS.value),
        AlertKind.OUT_OF_HOURS,
        Contact(
            alert.recipient_code,
            f"{alert.recipient_name} out-of-hours team",
            alert.recipient_out_of_hours_email or "",
        ),
        OrgKind.LOCAL_AUTHORITY,
        alert,
        f"urgent alert to {alert.recipient_name} outside its working hours",
        "out-of-hours.la",
        at,
        # About the authority's alert: acknowledging either stops its escalation (the
        # authority knows), and what cancels that alert's follow-ups cancels this too.
        parent_alert_id=alert.alert_id,
        about_recipient_name=alert.recipient_name,
        urgent=True,
    )


async def tell_out_of_hours_team(
    store: AlertStore, alert: Alert, out: Publisher, at: datetime, policy: DeliveryPolicy
) -> bool:
    """Queue the notice for ``alert`` (just stored) when :func:`notice_due`; True when
    one was queued."""
    if not notice_due(alert, at, policy):
        return False
    notice = notice_values(alert, at)
    if not await store.insert_raised(notice):
        return False
    await publish_alert_status(out, notice, AlertState.QUEUED, at)
    log.info(
        "notifier: alert %s reached %s outside its working hours; out-of-hours team told as %s",
        alert.alert_id,
        alert.recipient_code,
        notice.alert_id,
    )
    return True
