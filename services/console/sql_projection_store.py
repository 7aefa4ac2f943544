"""The :class:`~services.console.projection_store.ConsoleProjection` over the consumer's
database session: each operation is the console's existing query, in the consumer's
transaction. Writes to episodes, their events and alerts are deferred to the end of
the batch's transaction (alert_projection.py, event_projection.py); a handler that reads
them flushes first (handlers.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.messages import AlertRequestedV1, RhiTaskRequestedV1
from schemas.rhi_record import RhiTaskOutcomeV2
from services.console import child_links, projections, repository, rhi_records
from services.console.alert_projection import AlertWrites
from services.console.event_projection import EventWrites
from services.console.projections import Row
from services.console.tables import dead_letters, identity_reviews, rejects, rhi_tasks
from services.runtime.deferred_writes import deferred, flush_deferred


@dataclass(frozen=True)
class SqlConsoleProjection:
    session: AsyncSession

    async def record_event(self, row: Row, force_code: str, episode_ref: str) -> None:
        deferred(self.session, EventWrites).event(row, force_code, episode_ref)

    async def follow_link(self, episode_key: str) -> None:
        """Deferred with the event (record_event): the buffer's flush makes every episode
        it summarised take its link."""

    async def adopt_child(self, episode_key: str, child_id: str | None) -> None:
        if child_id is not None:
            deferred(self.session, AlertWrites).episode(episode_key, {}, child_id)

    async def record_link(self, row: Row) -> bool:
        """A link that merges a child away is kept at once (the buffers were flushed
        first: projecting.child_identity); any other is held for the batch, and counts
        as kept."""
        previous = row.get("previous_child_id")
        if previous and previous != row["child_id"]:
            return await child_links.record_link(self.session, row)
        deferred(self.session, child_links.LinkWrites).link(row)
        return True

    async def request_alert(
        self, placeholder: Row, authority: Row, child_id: str | None, alert: Row
    ) -> None:
        deferred(self.session, AlertWrites).request(placeholder, authority, child_id, alert)

    async def alert_status(self, skeleton: Row, state: Row) -> None:
        deferred(self.session, AlertWrites).status(skeleton, state)

    async def flush_alerts(self) -> None:
        await flush_deferred(self.session)

    async def add_episode(self, placeholder: Row) -> None:
        deferred(self.session, AlertWrites).placeholder(placeholder)

    async def update_episode(
        self, message: AlertRequestedV1 | RhiTaskRequestedV1, values: Row
    ) -> None:
        if values:
            ref = message.episode
            key = projections.episode_key(ref.force_code, ref.episode_ref)
            deferred(self.session, AlertWrites).episode(key, values, None)

    async def save_rhi_task(self, row: Row) -> None:
        await repository.upsert(self.session, rhi_tasks, row)

    async def rhi_task_state(self, task_id: str) -> Row | None:
        found = await repository.rhi_task_state(self.session, task_id)
        return dict(found) if found is not None else None

    async def keep_rhi_record(self, record: RhiTaskOutcomeV2) -> None:
        await rhi_records.keep(self.session, record)

    async def save_review(self, row: Row) -> None:
        await repository.upsert(self.session, identity_reviews, row)

    async def keep_reject(self, row: Row) -> None:
        await repository.insert_ignore(self.session, rejects, row)

    async def keep_dead_letter(self, row: Row) -> None:
        await repository.insert_ignore(self.session, dead_letters, row)
