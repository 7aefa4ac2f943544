"""What the console's projection handlers read and write (the port; pure).

Each handler of services/console/handlers.py writes its message's rows
(services/console/projecting.py) to a :class:`ConsoleProjection`:
services/console/sql_projection_store.py is the one over the consumer's database
session, tests/unit/console_fakes.py an in-memory one, so the projections are tested
without a database. Rows are the plain dicts of services/console/projections.py.
"""

from __future__ import annotations

from typing import Protocol

from schemas.messages import AlertRequestedV1, RhiTaskRequestedV1
from schemas.rhi_record import RhiTaskOutcomeV2
from services.console.projections import Row


class ConsoleProjection(Protocol):
    """The console's read model as the consumers write it. Alert writes may be held
    for the batch (services/console/alert_projection.py): :meth:`flush_alerts` writes
    them before a projection that reads or changes the same rows."""

    async def record_event(self, row: Row, force_code: str, episode_ref: str) -> None:
        """Keep the event and summarise its episode again from all its events."""
        ...

    async def follow_link(self, episode_key: str) -> None:
        """An episode row just written takes the router's link to its child, if any."""
        ...

    async def adopt_child(self, episode_key: str, child_id: str | None) -> None:
        """The child a message names for the episode, while the router's link is not
        here."""
        ...

    async def record_link(self, row: Row) -> bool:
        """Keep the router's link unless a higher revision is kept; True if kept."""
        ...

    async def request_alert(
        self, placeholder: Row, authority: Row, child_id: str | None, alert: Row
    ) -> None:
        """An alert request: its episode (a placeholder at least), the episode's
        authority and child, the alert."""
        ...

    async def alert_status(self, skeleton: Row, state: Row) -> None:
        """A status of an alert; the alert's state when it is the latest."""
        ...

    async def flush_alerts(self) -> None: ...

    async def add_episode(self, placeholder: Row) -> None:
        """The episode's row unless it exists."""
        ...

    async def update_episode(
        self, message: AlertRequestedV1 | RhiTaskRequestedV1, values: Row
    ) -> None:
        """Set ``values`` on the episode of ``message`` (its row exists)."""
        ...

    async def save_rhi_task(self, row: Row) -> None:
        """Insert the task's row or update the columns ``row`` names."""
        ...

    async def rhi_task_state(self, task_id: str) -> Row | None:
        """The task's ``state`` and ``state_at`` (locked for this transaction)."""
        ...

    async def keep_rhi_record(self, record: RhiTaskOutcomeV2) -> None:
        """Keep the record unless the task has one recorded earlier."""
        ...

    async def save_review(self, row: Row) -> None:
        """Insert the identity review's row or update the columns ``row`` names."""
        ...

    async def keep_reject(self, row: Row) -> None: ...

    async def keep_dead_letter(self, row: Row) -> None: ...
