"""The acceptance use case shared by the HTTP API and files: decide each item, keep
rejects, drop duplicates, publish the rest to the broker awaiting acks, log them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from sqlalchemy.engine import Connection

from schemas.catalogue import EPISODE_EVENTS, INGEST_REJECTED
from schemas.episode import EpisodeEventV1
from schemas.messages import IngestRejectedV1
from services.ingest import repository
from services.ingest.acceptance import (
    Decision,
    FieldErrors,
    Forbidden,
    Invalid,
    Valid,
    accepted_event,
    decide,
)
from services.ingest.ingest_store import IngestStore
from services.ingest.publishing import DirectPublisher, Outgoing
from services.ingest.repository import ApiKey
from services.ingest.sql_ingest_store import SqlIngestStore
from services.ingest.tables import messaging
from services.runtime.database import Database, utcnow
from services.runtime.handling import Outbox, Publisher
from services.runtime.messaging import OutboxRelay
from services.runtime.settings import RelaySettings

log = logging.getLogger(__name__)

Status = Literal["accepted", "duplicate", "rejected", "forbidden", "unavailable"]
Channel = Literal["http", "file", "kafka"]


@dataclass(frozen=True)
class Item:
    """One submitted item: its decoded JSON, or the errors decoding it; and its raw text."""

    data: Any
    raw: str
    parse_errors: FieldErrors = field(default_factory=list)


@dataclass
class ItemResult:
    index: int
    event_id: str | None
    status: Status
    errors: FieldErrors = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "event_id": self.event_id,
            "status": self.status,
            "errors": self.errors,
        }


@dataclass
class IntakeCounters:
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    forbidden: int = 0
    unavailable: int = 0

    def count(self, results: list[ItemResult]) -> None:
        for result in results:
            setattr(self, result.status, getattr(self, result.status) + 1)


async def record_reject(
    store: IngestStore,
    out: Publisher,
    *,
    channel: Channel,
    source: str,
    force_code: str | None,
    event_id: str | None,
    errors: FieldErrors,
    raw: str,
) -> None:
    """Keep a reject and announce it on ``ingest-rejected`` (through the outbox)."""
    reject = await store.add_reject(
        channel=channel,
        source=source,
        force_code=force_code,
        event_id=event_id,
        errors=errors,
        payload=raw,
    )
    await out.publish(
        INGEST_REJECTED,
        force_code or "unknown",
        IngestRejectedV1(
            message_id=reject.id,
            received_at=reject.received_at,
            channel=channel,
            source=source,
            force_code=force_code,
            event_id=event_id,
            errors=errors,  # type: ignore[arg-type]
        ),
    )
    log.info(
        "ingest: rejected event %s of force %s from %s (%s): %s",
        event_id,
        force_code,
        source,
        channel,
        ", ".join(e["field"] for e in errors),
    )


@dataclass
class Intake:
    db: Database
    publisher: DirectPublisher
    settings: RelaySettings
    relay: OutboxRelay
    counters: IntakeCounters = field(default_factory=IntakeCounters)

    async def submit(
        self,
        items: list[Item],
        *,
        key_force: str,
        source: str,
        channel: Channel,
        decided: Decided | None = None,
    ) -> list[ItemResult]:
        """Decide, de-duplicate, publish and log ``items``; a result per item, in order.
        ``decided``: the items decided for ``key_force`` and which of them the log has
        (:meth:`key_and_seen`), so the duplicate check is not run again."""
        if decided is None or decided.key_force != key_force:
            decided = Decided(key_force, decide_all(items, key_force))
        results: list[ItemResult] = []
        valid: dict[int, Valid] = {}
        invalid: dict[int, Invalid] = {}
        for index, (item, decision) in enumerate(zip(items, decided.decisions, strict=True)):
            if isinstance(decision, Valid):
                valid[index] = decision
                event_id: str | None = decision.submission.event_id
                results.append(ItemResult(index, event_id, "accepted"))
            elif isinstance(decision, Invalid):
                invalid[index] = decision
                results.append(ItemResult(index, decision.event_id, "rejected", decision.errors))
            else:
                results.append(_forbidden(index, item, decision))

        if invalid:
            await self._keep_rejects(items, invalid, source, channel)
        if valid:
            await self._accept(valid, results, source, decided.known)
        self.counters.count(results)
        return results

    async def key_and_seen(
        self, key_hash: str, items: list[Item], key_force: str | None
    ) -> tuple[ApiKey | None, Decided | None]:
        """The active key of ``key_hash`` and, in the same transaction, which of
        ``items`` (decided for ``key_force``, the force the key's own text names) the
        log has already: one short transaction where the key look-up and the duplicate
        check were two (issue 18)."""
        decided = Decided(key_force, decide_all(items, key_force)) if key_force else None
        # Both statements in one hand-over to a connection's synchronous side, with no
        # ORM session (Database.run: on SQLite begin, statements and commit in one).
        return await self.db.run(lambda connection: _key_and_seen(connection, key_hash, decided))

    async def _keep_rejects(
        self, items: list[Item], invalid: dict[int, Invalid], source: str, channel: Channel
    ) -> None:
        async with self.db.transaction() as session:
            out = Outbox(session, messaging, self.settings)
            for index, decision in invalid.items():
                await record_reject(
                    SqlIngestStore(session),
                    out,
                    channel=channel,
                    source=source,
                    force_code=decision.force_code,
                    event_id=decision.event_id,
                    errors=decision.errors,
                    raw=items[index].raw,
                )
        self.relay.wake()

    async def _accept(
        self,
        valid: dict[int, Valid],
        results: list[ItemResult],
        source: str,
        known: set[tuple[str, str]] | None,
    ) -> None:
        if known is None:
            async with self.db.transaction() as session:
                known = await repository.seen(session, _pairs(valid.values()))
        fresh: dict[int, EpisodeEventV1] = {}
        in_batch: set[tuple[str, str]] = set()
        for index, decision in valid.items():
            pair = (decision.submission.force_code, decision.submission.event_id)
            if pair in known or pair in in_batch:
                results[index].status = "duplicate"
                continue
            in_batch.add(pair)
            fresh[index] = accepted_event(decision.submission, source, utcnow())
        if not fresh:
            return

        topic = self.settings.topic(EPISODE_EVENTS.wire)
        errors = await self.publisher.send_all(
            [
                Outgoing(
                    topic, event.episode_key, event.message_id, event.model_dump_json().encode()
                )
                for event in fresh.values()
            ]
        )
        acked: dict[int, EpisodeEventV1] = {}
        for (index, event), error in zip(fresh.items(), errors, strict=True):
            if error is None:
                acked[index] = event
            else:
                results[index].status = "unavailable"
                results[index].errors = [{"field": "(broker)", "message": f"{error}; retry"}]
                log.warning(
                    "ingest: broker refused event %s of force %s: %s",
                    event.event_id,
                    event.force_code,
                    error,
                )
        # The broker has these events now. If this process dies before the insert below,
        # no 202 was sent and the client retries: the event is published a second time
        # with the same message_id, which every consumer's inbox absorbs.
        await self._log(acked, results)

    async def _log(self, acked: dict[int, EpisodeEventV1], results: list[ItemResult]) -> None:
        if not acked:
            return
        events = list(acked.values())
        # One hand-over a transaction, with no ORM session (Database.run, issue 18).
        try:
            await self.db.run(partial(repository.add_events_on, accepted=events))
            return
        except repository.DUPLICATE_ERRORS:
            pass  # a concurrent request logged one of them first: sort them out one by one
        for index, event in acked.items():
            try:
                await self.db.run(partial(repository.add_events_on, accepted=[event]))
            except repository.DUPLICATE_ERRORS:
                results[index].status = "duplicate"


@dataclass
class Decided:
    """Items decided for a key's force; ``known``: which valid ones the log has, when
    looked up with the key (None: not yet)."""

    key_force: str | None
    decisions: list[Decision]
    known: set[tuple[str, str]] | None = None


def _key_and_seen(
    connection: Connection, key_hash: str, decided: Decided | None
) -> tuple[ApiKey | None, Decided | None]:
    key = repository.active_key_on(connection, key_hash)
    if key is None or decided is None or key.force_code != decided.key_force:
        return key, None
    decided.known = repository.seen_on(connection, _pairs(decided.decisions))
    return key, decided


def decide_all(items: list[Item], key_force: str | None) -> list[Decision]:
    return [
        Invalid(item.parse_errors, None, None)
        if item.parse_errors
        else decide(item.data, key_force)
        for item in items
    ]


def _pairs(decisions: Iterable[Decision]) -> list[tuple[str, str]]:
    return [
        (d.submission.force_code, d.submission.event_id) for d in decisions if isinstance(d, Valid)
    ]


def _forbidden(index: int, item: Item, decision: Forbidden) -> ItemResult:
    event_id = item.data.get("event_id") if isinstance(item.data, dict) else None
    return ItemResult(
        index,
        event_id if isinstance(event_id, str) else None,
        "forbidden",
        [{"field": "force_code", "message": decision.message}],
    )


NESTED_TOO_DEEPLY = "not valid JSON: nested too deeply"


def items_from_json_text(raw: str) -> Item:
    try:
        return Item(json.loads(raw), raw)
    except ValueError as exc:
        return Item(None, raw, [{"field": "(body)", "message": f"not valid JSON: {exc}"}])
    except RecursionError:
        return Item(None, raw, [{"field": "(body)", "message": NESTED_TOO_DEEPLY}])
