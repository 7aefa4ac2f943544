"""The :class:`~services.notifier.alert_store.AlertStore` over the handler's database
session: each operation is the notifier's existing query, in the handler's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.messages import AlertState, RhiTaskOutcomeV1
from services.notifier import child_links, episode_alerts, repository
from services.notifier.model import Alert, RhiTask


@dataclass(frozen=True)
class SqlAlertStore:
    session: AsyncSession

    async def adopt_child(self, force_code: str, episode_ref: str, child_id: str | None) -> None:
        await child_links.adopt(self.session, force_code, episode_ref, child_id)

    async def insert_alert(self, alert: Alert) -> bool:
        return await repository.insert_alert(self.session, alert)

    async def insert_raised(self, alert: Alert) -> bool:
        return await repository.insert_raised(self.session, alert)

    async def get_alert(self, alert_id: str) -> Alert | None:
        return await repository.get_alert(self.session, alert_id)

    async def acknowledge(self, alert_id: str, at: datetime, by: str | None, now: datetime) -> bool:
        return await repository.acknowledge(self.session, alert_id, at, by, now)

    async def cancel_unsent(
        self, now: datetime, *, parent_alert_id: str = "", task_id: str = ""
    ) -> list[Alert]:
        return await repository.cancel_unsent(
            self.session, now, parent_alert_id=parent_alert_id, task_id=task_id
        )

    async def record_answer(
        self, alert_id: str, answer: str, answered_at: datetime, now: datetime
    ) -> None:
        await episode_alerts.record_answer(self.session, alert_id, answer, answered_at, now)

    async def episode_alerts(self, force_code: str, episode_ref: str) -> list[Alert]:
        return await episode_alerts.episode_alerts(self.session, force_code, episode_ref)

    async def awaiting_before(
        self, force_code: str, episode_ref: str, until: datetime
    ) -> list[Alert]:
        return await episode_alerts.awaiting_before(self.session, force_code, episode_ref, until)

    async def ended_after(self, force_code: str, episode_ref: str, after: datetime) -> str | None:
        return await episode_alerts.ended_after(self.session, force_code, episode_ref, after)

    async def unsent_follow_ups(self, parent_ids: Sequence[str]) -> list[Alert]:
        return await episode_alerts.unsent_follow_ups(self.session, parent_ids)

    async def noticed_recipients(self, force_code: str, episode_ref: str, but: str) -> set[str]:
        return await episode_alerts.noticed_recipients(
            self.session, force_code, episode_ref, but=but
        )

    async def set_state(self, alert_ids: Sequence[str], state: AlertState, now: datetime) -> None:
        await episode_alerts.set_state(self.session, alert_ids, state, now)

    async def set_about_alerts(self, alert_id: str, about: Sequence[str], now: datetime) -> None:
        await episode_alerts.set_about_alerts(self.session, alert_id, about, now)

    async def withdraw_tasks(
        self, force_code: str, episode_ref: str, now: datetime
    ) -> list[RhiTask]:
        return await episode_alerts.withdraw_tasks(self.session, force_code, episode_ref, now)

    async def record_withdrawals(
        self, force_code: str, episode_ref: str, event_id: str, now: datetime
    ) -> int:
        return await episode_alerts.record_withdrawals(
            self.session, force_code, episode_ref, event_id, now
        )

    async def open_tasks_for_child(
        self,
        authority_code: str,
        given_name: str,
        family_name: str,
        date_of_birth: date,
        child_id: str | None,
    ) -> list[RhiTask]:
        return await repository.open_tasks_for_child(
            self.session, authority_code, given_name, family_name, date_of_birth, child_id
        )

    async def add_task_note(self, task_id: str, note: str, now: datetime) -> None:
        await repository.add_task_note(self.session, task_id, note, now)

    async def insert_task(self, task: RhiTask) -> bool:
        return await repository.insert_task(self.session, task)

    async def get_task(self, task_id: str) -> RhiTask | None:
        return await repository.get_task(self.session, task_id)

    async def record_outcome(self, outcome: RhiTaskOutcomeV1, now: datetime) -> bool:
        return await repository.record_outcome(self.session, outcome, now)
