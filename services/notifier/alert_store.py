"""What the notifier's consumer handlers read and write (the port; pure).

``on_alert_requested``, ``on_rhi_task_requested``, ``on_acknowledgement`` and
``on_rhi_task_outcome`` (services/notifier/handlers.py), ``on_alert_answer``
(services/notifier/answers.py) and the episode's other alerts an alert request stands
down or withdraws (services/notifier/episodes.py, out_of_hours.py) go through an
:class:`AlertStore`: services/notifier/sql_alert_store.py is the one over the handler's
database session, tests/unit/notifier_fakes.py an in-memory one, so the handler is
tested without a database. Every write lands in the handler's transaction, with the
statuses it publishes (services/runtime/handling.py ``Publisher``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from schemas.messages import AlertState, RhiTaskOutcomeV1
from services.notifier.model import Alert, RhiTask


class AlertStore(Protocol):
    """The notifier's alerts, RHI tasks, disclosures and episode-to-child links as
    handling one consumed message sees them."""

    async def adopt_child(self, force_code: str, episode_ref: str, child_id: str | None) -> None:
        """The child an alert names, the episode's until the router's link comes."""
        ...

    async def insert_alert(self, alert: Alert) -> bool:
        """Store a requested alert; False when it (or the same facts) is stored already."""
        ...

    async def insert_raised(self, alert: Alert) -> bool:
        """Store an alert the notifier raised itself; False when it exists already."""
        ...

    async def get_alert(self, alert_id: str) -> Alert | None: ...

    async def acknowledge(self, alert_id: str, at: datetime, by: str | None, now: datetime) -> bool:
        """Mark an alert acknowledged; False when it already was."""
        ...

    async def cancel_unsent(
        self, now: datetime, *, parent_alert_id: str = "", task_id: str = ""
    ) -> list[Alert]:
        """Alerts raised about ``parent_alert_id`` or ``task_id`` that have not gone out
        become ``cancelled``; returns them."""
        ...

    async def record_answer(
        self, alert_id: str, answer: str, answered_at: datetime, now: datetime
    ) -> None:
        """The recipient's latest answer on its alert."""
        ...

    async def episode_alerts(self, force_code: str, episode_ref: str) -> list[Alert]:
        """Every alert of the episode but its notices (withdrawn, answer), oldest first."""
        ...

    async def awaiting_before(
        self, force_code: str, episode_ref: str, until: datetime
    ) -> list[Alert]:
        """The episode's alerts about the child being missing, for events up to
        ``until``, not acknowledged and still waiting (not the repeat-missing flag)."""
        ...

    async def ended_after(self, force_code: str, episode_ref: str, after: datetime) -> str | None:
        """The type of an event after ``after`` that ended the episode (found, returned,
        closed), when the notifier holds an alert of one; None otherwise."""
        ...

    async def unsent_follow_ups(self, parent_ids: Sequence[str]) -> list[Alert]:
        """Escalations of these alerts that have not gone out yet."""
        ...

    async def noticed_recipients(self, force_code: str, episode_ref: str, but: str) -> set[str]:
        """Organisations sent (or due) a withdrawal notice for the episode, but ``but``."""
        ...

    async def set_state(self, alert_ids: Sequence[str], state: AlertState, now: datetime) -> None:
        """``state`` and no deadline for these alerts (one being sent keeps ``sending``)."""
        ...

    async def set_about_alerts(self, alert_id: str, about: Sequence[str], now: datetime) -> None:
        """The alerts a withdrawal notice asks its recipient to disregard."""
        ...

    async def withdraw_tasks(
        self, force_code: str, episode_ref: str, now: datetime
    ) -> list[RhiTask]:
        """The episode's open RHI tasks become ``withdrawn``; returns them as they were."""
        ...

    async def record_withdrawals(
        self, force_code: str, episode_ref: str, event_id: str, now: datetime
    ) -> int:
        """A withdrawal entry against each earlier disclosure of the episode; how many."""
        ...

    async def open_tasks_for_child(
        self,
        authority_code: str,
        given_name: str,
        family_name: str,
        date_of_birth: date,
        child_id: str | None,
    ) -> list[RhiTask]:
        """The authority's open RHI tasks for the child (by ``child_id``'s episodes, else
        by exact name and date of birth)."""
        ...

    async def add_task_note(self, task_id: str, note: str, now: datetime) -> None: ...

    async def insert_task(self, task: RhiTask) -> bool:
        """Store a requested RHI task; False when it exists already."""
        ...

    async def get_task(self, task_id: str) -> RhiTask | None: ...

    async def record_outcome(self, outcome: RhiTaskOutcomeV1, now: datetime) -> bool:
        """Close an open task with its outcome; False when it was closed already."""
        ...
