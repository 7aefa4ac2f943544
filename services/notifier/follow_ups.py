"""What the notifier raises on its own, from ``due_at``-style rows (DESIGN §2, §6, §7):
escalations of alerts nobody acknowledged by their deadline, and RHI reminders and
escalations. Each becomes an alert row of its own, so it is sent, retried and recorded
like any other; ids derive from what it is about, so two copies of the notifier (or a
rerun after a crash) raise it once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.base import derived_id
from schemas.messages import AlertKind, AlertState, OrgKind, RhiTaskState
from services.notifier import repository
from services.notifier.deadlines import ack_deadline
from services.notifier.escalation import (
    AUTHORITY,
    CONTACT,
    UNDELIVERED,
    Contact,
    step_after,
)
from services.notifier.model import Alert, RhiTask, raised_alert
from services.notifier.policy import DeliveryPolicy
from services.notifier.statuses import publish_alert_status, publish_task_status
from services.runtime.database import Database
from services.runtime.handling import Outbox
from services.runtime.messaging import MessagingTables
from services.runtime.settings import RelaySettings

log = logging.getLogger(__name__)

_LEVEL_NAMES = {CONTACT: "escalation contact", AUTHORITY: "responsible local authority"}


class FollowUps:
    def __init__(
        self,
        db: Database,
        tables: MessagingTables,
        settings: RelaySettings,
        policy: DeliveryPolicy,
        now: Callable[[], datetime],
        batch_size: int = 50,
    ) -> None:
        self.db = db
        self.tables = tables
        self.settings = settings
        self.policy = policy
        self.now = now
        self.batch_size = batch_size
        self.raised = 0

    async def run_once(self) -> int:
        """Raise what is due, in one transaction (the delivery loop asks before every
        batch, and mostly nothing is due); returns how many alerts were raised or chains
        ended."""
        now = self.now()
        async with self.db.transaction() as session:
            out = Outbox(session, self.tables, self.settings)
            return await self._escalate_due(session, out, now) + await self._remind_due(
                session, out, now
            )

    async def escalate_due(self) -> int:
        now = self.now()
        async with self.db.transaction() as session:
            return await self._escalate_due(
                session, Outbox(session, self.tables, self.settings), now
            )

    async def _escalate_due(self, session: AsyncSession, out: Outbox, now: datetime) -> int:
        rows = await repository.due_for_escalation(session, now, self.batch_size)
        for alert in rows:
            await self._escalate(session, out, alert, now)
        return len(rows)

    async def _escalate(
        self, session: AsyncSession, out: Outbox, alert: Alert, now: datetime
    ) -> None:
        step = step_after(alert, alert.escalation_level)
        if step is None:
            await repository.mark_escalated(session, alert, None, None, now)
            log.warning(
                "notifier: alert %s is still not acknowledged and has nobody left to escalate to",
                alert.alert_id,
            )
            return
        recipient_kind = (
            OrgKind(alert.recipient_kind) if step.level == CONTACT else OrgKind.LOCAL_AUTHORITY
        )
        raised_id = step.alert_id(alert.alert_id)
        delivered = alert.sent_at is not None
        why = "not acknowledged by its deadline" if delivered else UNDELIVERED
        following = ack_deadline(step.kind, recipient_kind, now, self.policy)
        # The email states its deadline only when someone is told after it.
        then = step_after(alert, step.level)
        raised = raised_alert(
            raised_id,
            step.kind,
            step.to,
            recipient_kind,
            alert,
            f"alert to {alert.recipient_name} {why}",
            f"escalation.{_LEVEL_NAMES[step.level].replace(' ', '-')}",
            now,
            parent_alert_id=alert.alert_id,
            about_recipient_name=alert.recipient_name,
            respond_by=following if then is not None else None,
            urgent=alert.urgent,
        )
        await self._raise(session, out, raised, now)
        await repository.mark_escalated(session, alert, step.level, following, now)
        await publish_alert_status(
            out,
            alert,
            AlertState.ESCALATED,
            now,
            attempt=step.level,
            detail=f"{why}: escalated to the {_LEVEL_NAMES[step.level]} ({step.to.code})",
        )
        log.info(
            "notifier: alert %s escalated (level %d) as %s", alert.alert_id, step.level, raised_id
        )

    async def _raise(self, session: AsyncSession, out: Outbox, alert: Alert, now: datetime) -> None:
        """Queue a raised alert (once: a second copy of the notifier finds it there)."""
        if await repository.insert_raised(session, alert):
            await publish_alert_status(out, alert, AlertState.QUEUED, now)
            self.raised += 1

    async def remind_due(self) -> int:
        now = self.now()
        async with self.db.transaction() as session:
            return await self._remind_due(session, Outbox(session, self.tables, self.settings), now)

    async def _remind_due(self, session: AsyncSession, out: Outbox, now: datetime) -> int:
        count = 0
        for task in await repository.tasks_to_remind(session, now, self.batch_size):
            await self._raise_for_task(session, out, task, AlertKind.RHI_REMINDER, now)
            count += 1
        for task in await repository.tasks_to_escalate(session, now, self.batch_size):
            await self._raise_for_task(session, out, task, AlertKind.RHI_ESCALATION, now)
            count += 1
        return count

    async def _raise_for_task(
        self, session: AsyncSession, out: Outbox, task: RhiTask, kind: AlertKind, now: datetime
    ) -> None:
        reminder = kind is AlertKind.RHI_REMINDER
        email = task.authority_email
        if not reminder and task.authority_escalation_email:
            email = task.authority_escalation_email
        raised_id = derived_id(task.task_id, kind.value)
        raised = raised_alert(
            raised_id,
            kind,
            Contact(task.authority_code, task.authority_name, email),
            OrgKind.LOCAL_AUTHORITY,
            task,
            "return home interview: no outcome recorded yet",
            f"rhi.{'reminder' if reminder else 'escalation'}",
            now,
            task_id=task.task_id,
            respond_by=task.due_at,
        )
        await self._raise(session, out, raised, now)
        state = RhiTaskState.REMINDED if reminder else RhiTaskState.ESCALATED
        await repository.mark_task(session, task.task_id, state, now)
        await publish_task_status(
            out,
            task,
            state,
            now,
            note=f"reminder sent: no outcome {self.policy.rhi_reminder_hours:g} hours after return"
            if reminder
            else "escalated: no outcome by the deadline",
        )
        log.info("notifier: RHI task %s %s", task.task_id, state.value)
