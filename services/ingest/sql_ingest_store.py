"""The :class:`~services.ingest.ingest_store.IngestStore` over a database session: each
operation is ingest's existing query, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.episode import EpisodeEventV1
from services.ingest import repository, status_repository
from services.ingest.acceptance import FieldErrors, Reject
from services.ingest.episode_status import AlertRecord, AnswerRecord


@dataclass(frozen=True)
class SqlIngestStore:
    session: AsyncSession

    async def is_seen(self, force_code: str, event_id: str) -> bool:
        return await repository.is_seen(self.session, force_code, event_id)

    async def add_event(self, event: EpisodeEventV1) -> None:
        await repository.add_event(self.session, event)

    async def add_reject(
        self,
        *,
        channel: str,
        source: str,
        force_code: str | None,
        event_id: str | None,
        errors: FieldErrors,
        payload: str,
    ) -> Reject:
        return await repository.add_reject(
            self.session,
            channel=channel,
            source=source,
            force_code=force_code,
            event_id=event_id,
            errors=errors,
            payload=payload,
        )

    async def stored_alerts(self, alert_ids: Collection[str]) -> dict[str, AlertRecord]:
        return await status_repository.alerts_for_update(self.session, alert_ids)

    async def save_alerts(self, records: Sequence[AlertRecord]) -> None:
        await status_repository.save_alerts(self.session, records)

    async def answer(self, alert_id: str) -> AnswerRecord | None:
        return await status_repository.answer(self.session, alert_id)

    async def save_answer(self, record: AnswerRecord) -> None:
        await status_repository.save_answer(self.session, record)
