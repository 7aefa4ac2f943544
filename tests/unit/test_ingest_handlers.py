"""Ingest's consumer handlers (services/ingest/handlers.py ``accept_police_event``,
``take_alert_status``, ``take_alert_answer``) driven through the in-memory store and
outbox (tests/unit/ingest_fakes.py): what they keep and publish. The SQL store and the
consumers around it: tests/integration/test_ingest_*.py."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from schemas.catalogue import EPISODE_EVENTS, INGEST_REJECTED
from schemas.episode import EpisodeEventV1, episode_message_id
from schemas.messages import AlertState, Answer, IngestRejectedV1
from services.ingest.handlers import (
    accept_police_event,
    take_alert_answer,
    take_alert_status,
    take_alert_statuses,
)
from services.runtime.handling import RawMessage
from tests.unit.fake_outbox import FakeOutbox
from tests.unit.ingest_fakes import MemoryIngestStore
from tests.unit.test_ingest_acceptance import event
from tests.unit.test_ingest_episode_status import T0, answer, status

NOW = T0 + timedelta(minutes=5)


def raw(data: Any) -> RawMessage:
    return RawMessage(json.dumps(data).encode() if not isinstance(data, bytes) else data)


async def accept(store: MemoryIngestStore, message: RawMessage) -> tuple[bool, FakeOutbox]:
    out = FakeOutbox()
    return await accept_police_event(store, message, out, clock=lambda: NOW), out


async def test_a_valid_police_event_is_logged_and_published_once() -> None:
    store = MemoryIngestStore()
    accepted, out = await accept(store, raw(event()))
    assert accepted is True
    [published] = out.on(EPISODE_EVENTS, EpisodeEventV1)
    assert (published.message_id, published.source, published.accepted_at) == (
        episode_message_id("10", "NB-1"),
        "kafka",
        NOW,
    )
    assert [key for _, key, _ in out.sent] == [published.episode_key]
    assert store.events == {("10", "NB-1"): published}
    # The same event again (a replay, or another channel had it first): nothing new.
    again, out_again = await accept(store, raw(event(risk={"grade": "high"})))
    assert again is False and out_again.sent == []
    assert store.events[("10", "NB-1")].risk.grade.value == "medium"


async def test_an_invalid_police_event_is_kept_as_a_reject_and_announced() -> None:
    store = MemoryIngestStore()
    bad = event(child={"given_name": "Amy"})
    accepted, out = await accept(store, raw(bad))
    assert accepted is False and store.events == {}
    [(reject, payload)] = store.rejects
    assert (reject.channel, reject.source, reject.force_code, reject.event_id) == (
        "kafka",
        "kafka",
        "10",
        "NB-1",
    )
    assert json.loads(payload) == bad
    [announced] = out.on(INGEST_REJECTED, IngestRejectedV1)
    assert (announced.message_id, announced.channel, announced.force_code) == (
        reject.id,
        "kafka",
        "10",
    )
    assert {e.field for e in announced.errors} >= {"child.family_name"}
    assert [key for _, key, _ in out.sent] == ["10"]


async def test_malformed_json_is_a_reject_of_an_unknown_force() -> None:
    store = MemoryIngestStore()
    accepted, out = await accept(store, raw(b'{"event_id": "NB-1",'))
    assert accepted is False
    [(reject, payload)] = store.rejects
    assert (reject.force_code, reject.event_id, payload) == (None, None, '{"event_id": "NB-1",')
    [announced] = out.on(INGEST_REJECTED, IngestRejectedV1)
    assert [key for _, key, _ in out.sent] == ["unknown"] and announced.force_code is None


async def test_statuses_fold_into_the_alert_and_a_replay_changes_nothing() -> None:
    store = MemoryIngestStore()
    sent, acknowledged = status(AlertState.SENT, 1), status(AlertState.ACKNOWLEDGED, 9)
    for message in (status(AlertState.QUEUED, 0), sent, acknowledged):
        await take_alert_status(store, message)
    record = store.alerts["A1"]
    assert (record.state, record.sent_at, record.acknowledged_at, record.first_at) == (
        AlertState.ACKNOWLEDGED,
        sent.at,
        acknowledged.at,
        T0,
    )
    saves = store.saves
    await take_alert_status(store, sent)  # a replay of an older status
    assert store.alerts["A1"] == record and store.saves == saves


async def test_a_batch_of_statuses_is_one_read_and_one_save_an_alert() -> None:
    batch = [
        status(AlertState.QUEUED, 0),
        status(AlertState.QUEUED, 0, alert_id="A2"),
        status(AlertState.SENT, 1),
        status(AlertState.SENT, 2, alert_id="A2"),
        status(AlertState.ACKNOWLEDGED, 9),
    ]
    one_by_one = MemoryIngestStore()
    for message in batch:
        await take_alert_status(one_by_one, message)
    together = MemoryIngestStore()
    await take_alert_statuses(together, batch)
    assert together.alerts == one_by_one.alerts and together.saves == 2
    await take_alert_statuses(together, batch)  # the whole batch again: nothing changes
    assert together.alerts == one_by_one.alerts and together.saves == 2


async def test_the_latest_answer_stands() -> None:
    store = MemoryIngestStore()
    await take_alert_answer(store, answer(Answer.INFORMATION, 5))
    await take_alert_answer(store, answer(Answer.HERE_NOW, 10))
    saves = store.saves
    await take_alert_answer(store, answer(Answer.NOT_KNOWN, 7))  # older: kept out
    await take_alert_answer(store, answer(Answer.HERE_NOW, 10))  # the same again
    kept = store.answers["A1"]
    assert (kept.answer, kept.answered_at) == (Answer.HERE_NOW, T0 + timedelta(minutes=10))
    assert store.saves == saves
