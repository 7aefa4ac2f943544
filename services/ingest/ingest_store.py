"""What ingest's consumer handlers read and write (the port; pure).

``on_police_event``, ``on_alert_status`` and ``on_alert_answer``
(services/ingest/handlers.py), and the rejects the HTTP and file channels keep
(services/ingest/intake.py ``record_reject``), go through an :class:`IngestStore`:
services/ingest/sql_ingest_store.py is the one over a database session,
tests/unit/ingest_fakes.py an in-memory one, so the handlers are tested without a
database. Every write lands in the caller's transaction, with the messages it publishes
(services/runtime/handling.py ``Publisher``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from schemas.episode import EpisodeEventV1
from services.ingest.acceptance import FieldErrors, Reject
from services.ingest.episode_status import AlertRecord, AnswerRecord


class IngestStore(Protocol):
    """Ingest's accepted events and rejects, and its read model of who knows about an
    episode (services/ingest/episode_status.py)."""

    async def is_seen(self, force_code: str, event_id: str) -> bool:
        """Whether the force's event was accepted already (by any channel)."""
        ...

    async def add_event(self, event: EpisodeEventV1) -> None:
        """Keep an accepted event in the log."""
        ...

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
        """Keep refused input with its raw payload; the reject, received now."""
        ...

    async def stored_alerts(self, alert_ids: Collection[str]) -> dict[str, AlertRecord]:
        """The stored alerts among ``alert_ids`` as their statuses so far describe them,
        by id (locked for this transaction)."""
        ...

    async def save_alerts(self, records: Sequence[AlertRecord]) -> None:
        """Keep each of ``records`` (one per alert), new or replacing the stored one."""
        ...

    async def answer(self, alert_id: str) -> AnswerRecord | None:
        """The recipient's latest answer to the alert."""
        ...

    async def save_answer(self, record: AnswerRecord) -> None: ...
