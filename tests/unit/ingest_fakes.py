"""A hand-written fake for ingest's handlers: an in-memory
:class:`~services.ingest.ingest_store.IngestStore` (the outbox:
tests/unit/fake_outbox.py). The real store's queries are tested on a database
(tests/integration)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas.episode import EpisodeEventV1
from services.ingest.acceptance import FieldErrors, Reject
from services.ingest.episode_status import AlertRecord, AnswerRecord


@dataclass
class MemoryIngestStore:
    """Ingest's log of accepted events, its rejects (with their payloads) and its read
    model of alerts and answers, in dictionaries."""

    events: dict[tuple[str, str], EpisodeEventV1] = field(default_factory=dict)
    rejects: list[tuple[Reject, str]] = field(default_factory=list)
    alerts: dict[str, AlertRecord] = field(default_factory=dict)
    answers: dict[str, AnswerRecord] = field(default_factory=dict)
    saves: int = 0

    async def is_seen(self, force_code: str, event_id: str) -> bool:
        return (force_code, event_id) in self.events

    async def add_event(self, event: EpisodeEventV1) -> None:
        key = (event.force_code, event.event_id)
        assert key not in self.events, "the log keeps an event once (a unique key)"
        self.events[key] = event

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
        at = datetime.now(UTC)
        reject = Reject(str(uuid.uuid4()), at, channel, source[:200], force_code, event_id, errors)
        self.rejects.append((reject, payload))
        return reject

    async def stored_alerts(self, alert_ids: Collection[str]) -> dict[str, AlertRecord]:
        return {i: self.alerts[i] for i in alert_ids if i in self.alerts}

    async def save_alerts(self, records: Sequence[AlertRecord]) -> None:
        ids = [r.alert_id for r in records]
        assert len(set(ids)) == len(ids), "one record an alert"
        for record in records:
            self.alerts[record.alert_id] = record
        self.saves += len(records)

    async def answer(self, alert_id: str) -> AnswerRecord | None:
        return self.answers.get(alert_id)

    async def save_answer(self, record: AnswerRecord) -> None:
        self.answers[record.alert_id] = record
        self.saves += 1
