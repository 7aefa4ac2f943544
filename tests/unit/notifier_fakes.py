"""A hand-written fake for the notifier's handlers: an in-memory
:class:`~services.notifier.alert_store.AlertStore` (the outbox:
tests/unit/fake_outbox.py). The real store's queries are tested on a database
(tests/integration)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from schemas.episode import ENDING_EVENTS, MISSING_EVENTS
from schemas.messages import AlertKind, AlertState, RhiTaskOutcomeV1, RhiTaskState
from services.notifier.model import Alert, RhiTask

Episode = tuple[str, str]  # (force_code, episode_ref)
# As services/notifier/episode_alerts.py and repository/tasks.py have them.
_AWAITING = {
    AlertState.QUEUED.value,
    AlertState.SENDING.value,
    AlertState.SENT.value,
    AlertState.TEMPORARY_FAILURE.value,
    AlertState.PERMANENT_FAILURE.value,
    AlertState.ESCALATED.value,
}
_UNSENT = {AlertState.QUEUED.value, AlertState.TEMPORARY_FAILURE.value}
_NOTICES = {AlertKind.WITHDRAWN.value, AlertKind.ANSWER.value}
_MISSING_TYPES = {t.value for t in MISSING_EVENTS}
_ENDING_TYPES = {t.value for t in ENDING_EVENTS}
_OPEN_TASKS = {RhiTaskState.OPEN.value, RhiTaskState.REMINDED.value, RhiTaskState.ESCALATED.value}


def _of(row: Alert | RhiTask, force_code: str, episode_ref: str) -> bool:
    return (row.force_code, row.episode_ref) == (force_code, episode_ref)


def _oldest_first(rows: list[Alert]) -> list[Alert]:
    return sorted(rows, key=lambda a: (a.created_at, a.alert_id))


@dataclass
class MemoryAlertStore:
    """The notifier's alerts and tasks in dictionaries. A disclosure is recorded when an
    alert is sent (by the scheduler, not here): the fake counts sent alerts as such."""

    alerts: dict[str, Alert] = field(default_factory=dict)
    tasks: dict[str, RhiTask] = field(default_factory=dict)
    child_links: dict[Episode, str] = field(default_factory=dict)
    withdrawals: list[tuple[Episode, str]] = field(default_factory=list)

    def keep(self, *rows: Alert | RhiTask) -> None:
        """Rows as earlier handlers and the scheduler left them."""
        for row in rows:
            if isinstance(row, Alert):
                self.alerts[row.alert_id] = row
            else:
                self.tasks[row.task_id] = row

    async def adopt_child(self, force_code: str, episode_ref: str, child_id: str | None) -> None:
        if child_id is not None:
            self.child_links.setdefault((force_code, episode_ref), child_id)

    async def insert_alert(self, alert: Alert) -> bool:
        facts = (alert.event_message_id, alert.recipient_code, alert.kind, alert.parent_alert_id)
        if alert.alert_id in self.alerts or any(
            (a.event_message_id, a.recipient_code, a.kind, a.parent_alert_id) == facts
            for a in self.alerts.values()
        ):
            return False
        self.alerts[alert.alert_id] = alert
        return True

    async def insert_raised(self, alert: Alert) -> bool:
        if alert.alert_id in self.alerts:
            return False
        self.alerts[alert.alert_id] = alert
        return True

    async def get_alert(self, alert_id: str) -> Alert | None:
        return self.alerts.get(alert_id)

    async def acknowledge(self, alert_id: str, at: datetime, by: str | None, now: datetime) -> bool:
        a = self.alerts[alert_id]
        if a.acknowledged_at is not None:
            return False
        self.alerts[alert_id] = replace(
            a,
            state=AlertState.ACKNOWLEDGED.value,
            acknowledged_at=at,
            acknowledged_by=by,
            ack_due_at=None,
            updated_at=now,
        )
        return True

    async def cancel_unsent(
        self, now: datetime, *, parent_alert_id: str = "", task_id: str = ""
    ) -> list[Alert]:
        unsent = [
            a
            for a in self.alerts.values()
            if (a.parent_alert_id == parent_alert_id if parent_alert_id else a.task_id == task_id)
            and a.state in _UNSENT
        ]
        for a in unsent:
            self.alerts[a.alert_id] = replace(
                a, state=AlertState.CANCELLED.value, ack_due_at=None, updated_at=now
            )
        return unsent

    async def record_answer(
        self, alert_id: str, answer: str, answered_at: datetime, now: datetime
    ) -> None:
        a = self.alerts[alert_id]
        self.alerts[alert_id] = replace(a, answer=answer, answered_at=answered_at, updated_at=now)

    async def episode_alerts(self, force_code: str, episode_ref: str) -> list[Alert]:
        return _oldest_first(
            [
                a
                for a in self.alerts.values()
                if _of(a, force_code, episode_ref) and a.kind not in _NOTICES
            ]
        )

    async def ended_after(self, force_code: str, episode_ref: str, after: datetime) -> str | None:
        return next(
            (
                a.event_type
                for a in self.alerts.values()
                if _of(a, force_code, episode_ref)
                and a.event_type in _ENDING_TYPES
                and a.occurred_at > after
            ),
            None,
        )

    async def awaiting_before(
        self, force_code: str, episode_ref: str, until: datetime
    ) -> list[Alert]:
        return _oldest_first(
            [
                a
                for a in self.alerts.values()
                if _of(a, force_code, episode_ref)
                and a.parent_alert_id == ""
                and a.event_type in _MISSING_TYPES
                and a.kind != AlertKind.REPEAT_MISSING.value
                and a.occurred_at <= until
                and a.acknowledged_at is None
                and a.state in _AWAITING
            ]
        )

    async def unsent_follow_ups(self, parent_ids: Sequence[str]) -> list[Alert]:
        return [
            a
            for a in self.alerts.values()
            if a.parent_alert_id in parent_ids and a.state in _UNSENT
        ]

    async def noticed_recipients(self, force_code: str, episode_ref: str, but: str) -> set[str]:
        return {
            a.recipient_code
            for a in self.alerts.values()
            if _of(a, force_code, episode_ref)
            and a.alert_id != but
            and a.kind == AlertKind.WITHDRAWN.value
            and a.state != AlertState.CANCELLED.value
        }

    async def set_state(self, alert_ids: Sequence[str], state: AlertState, now: datetime) -> None:
        for alert_id in alert_ids:
            a = self.alerts[alert_id]
            keeps = a.state == AlertState.SENDING.value
            self.alerts[alert_id] = replace(
                a, state=a.state if keeps else state.value, ack_due_at=None, updated_at=now
            )

    async def set_about_alerts(self, alert_id: str, about: Sequence[str], now: datetime) -> None:
        a = self.alerts[alert_id]
        self.alerts[alert_id] = replace(a, about_alert_ids=" ".join(about), updated_at=now)

    async def withdraw_tasks(
        self, force_code: str, episode_ref: str, now: datetime
    ) -> list[RhiTask]:
        open_ = [
            t
            for t in self.tasks.values()
            if _of(t, force_code, episode_ref) and t.state in _OPEN_TASKS
        ]
        for t in open_:
            self.tasks[t.task_id] = replace(t, state=RhiTaskState.WITHDRAWN.value, updated_at=now)
        return open_

    async def record_withdrawals(
        self, force_code: str, episode_ref: str, event_id: str, now: datetime
    ) -> int:
        self.withdrawals.append(((force_code, episode_ref), event_id))
        return sum(
            1
            for a in self.alerts.values()
            if _of(a, force_code, episode_ref)
            and a.sent_at is not None
            and a.kind != AlertKind.WITHDRAWN.value
        )

    async def open_tasks_for_child(
        self,
        authority_code: str,
        given_name: str,
        family_name: str,
        date_of_birth: date,
        child_id: str | None,
    ) -> list[RhiTask]:
        mine = [
            t
            for t in self.tasks.values()
            if t.authority_code == authority_code and t.state in _OPEN_TASKS
        ]
        if child_id is not None:
            return [
                t for t in mine if self.child_links.get((t.force_code, t.episode_ref)) == child_id
            ]
        return [
            t
            for t in mine
            if t.child_date_of_birth == date_of_birth
            and t.child_given_name.casefold() == given_name.casefold()
            and t.child_family_name.casefold() == family_name.casefold()
        ]

    async def add_task_note(self, task_id: str, note: str, now: datetime) -> None:
        t = self.tasks[task_id]
        notes = f"{t.notes}\n{note}" if t.notes else note
        self.tasks[task_id] = replace(t, notes=notes, updated_at=now)

    async def insert_task(self, task: RhiTask) -> bool:
        if task.task_id in self.tasks:
            return False
        self.tasks[task.task_id] = task
        return True

    async def get_task(self, task_id: str) -> RhiTask | None:
        return self.tasks.get(task_id)

    async def record_outcome(self, outcome: RhiTaskOutcomeV1, now: datetime) -> bool:
        t = self.tasks.get(outcome.task_id)
        if t is None or t.state not in _OPEN_TASKS:
            return False
        self.tasks[t.task_id] = replace(
            t,
            state=outcome.outcome.value,
            outcome_reason=outcome.reason,
            outcome_recorded_by=outcome.recorded_by,
            outcome_recorded_at=outcome.recorded_at,
            updated_at=now,
        )
        return True
