"""``GET /v1/episodes/{force_code}/{episode_ref}`` on the real broker and database: the
police see who was told about their episode, from what ingest reads off
``alert-status`` and ``alert-answers`` (issue 17, point 3)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from schemas.base import derived_id
from schemas.catalogue import ALERT_ANSWERS, ALERT_STATUS
from schemas.episode import EventType, episode_message_id
from schemas.messages import (
    AlertAnswerV1,
    AlertKind,
    AlertState,
    AlertStatusV1,
    Answer,
    OrgKind,
)
from services.ingest import status_repository
from services.ingest.handlers import on_alert_answer, on_alert_status
from services.ingest.repository import remove_expired
from services.ingest.tables import messaging, metadata
from services.runtime.database import Database
from services.runtime.handling import Outbox
from services.runtime.migrations import upgrade
from services.runtime.retention import DEFAULT_DAYS, RetentionPolicy
from services.runtime.settings import RelaySettings
from tests.conftest import eventually
from tests.integration.test_ingest_api import Running, add_key, event, running
from tests.schema import schema_drift

T0 = datetime(2026, 3, 1, 21, 45, tzinfo=UTC)
SECRET = "Seen with an older man at the bus station"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def iso(minutes: int) -> str:
    return at(minutes).isoformat().replace("+00:00", "Z")


class Episode:
    """Messages about one episode of force 10, as the notifier and console send them."""

    def __init__(self, ref: str, event_id: str) -> None:
        self.ref, self.event_id = ref, event_id

    def alert_id(self, recipient: str, kind: AlertKind = AlertKind.REPORTED) -> str:
        return derived_id(self.event_id, recipient, kind.value)

    def status(
        self,
        recipient: tuple[OrgKind, str, str | None],
        state: AlertState,
        minutes: int,
        kind: AlertKind = AlertKind.REPORTED,
        attempt: int = 0,
    ) -> AlertStatusV1:
        org_kind, code, name = recipient
        alert_id = self.alert_id(code, kind)
        return AlertStatusV1(
            message_id=derived_id("alert-status", alert_id, state.value, str(attempt)),
            alert_id=alert_id,
            state=state,
            kind=kind,
            recipient_code=code,
            recipient_kind=org_kind,
            force_code="10",
            episode_ref=self.ref,
            event_message_id=episode_message_id("10", self.event_id),
            attempt=attempt,
            at=at(minutes),
            recipient_name=name,
            event_type=EventType.REPORTED if name else None,  # None: an older notifier
        )

    def answer(
        self, recipient: tuple[OrgKind, str, str], answer: Answer, minutes: int
    ) -> AlertAnswerV1:
        org_kind, code, name = recipient
        alert_id = self.alert_id(code)
        return AlertAnswerV1(
            message_id=derived_id("alert-answer", alert_id, answer.value),
            alert_id=alert_id,
            answer=answer,
            information=SECRET if answer is Answer.INFORMATION else None,
            answered_at=at(minutes),
            force_code="10",
            episode_ref=self.ref,
            event_message_id=episode_message_id("10", self.event_id),
            recipient_code=code,
            recipient_kind=org_kind,
            recipient_name=name,
        )


SCHOOL = (OrgKind.SCHOOL, "100001", "Hillside Primary")
GP = (OrgKind.GP_PRACTICE, "A81001", "Riverside Surgery")
YOT = (OrgKind.YOT, "YOT-NT", "North Tyneside YOT")
LA = (OrgKind.LOCAL_AUTHORITY, "E08000022", None)  # statuses from before names were carried
POLICE = (OrgKind.POLICE_FORCE, "10", "Northumbria Police")


@asynccontextmanager
async def producing(settings: RelaySettings) -> AsyncIterator[Any]:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, enable_idempotence=False)
    await producer.start()

    async def send(wire: str, key: str, message: BaseModel) -> None:
        await producer.send_and_wait(
            settings.topic(wire), message.model_dump_json().encode(), key=key.encode()
        )

    try:
        yield send
    finally:
        await producer.stop()


async def status_of(r: Running, path: str) -> Any:
    answer = await r.client.get(path, headers=r.auth())
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_police_see_who_was_told_what_they_did_and_answered(
    settings: RelaySettings,
) -> None:
    ref = f"MISS/2026/{uuid.uuid4().hex[:6]}"
    path = f"/v1/episodes/10/{ref}"
    ep = Episode(ref, f"NB-{uuid.uuid4().hex[:8]}")
    async with running(settings) as r, producing(settings) as send:
        reported = await r.client.post(
            "/v1/episode-events", json=event(ep.event_id, episode_ref=ref), headers=r.auth()
        )
        found = await r.client.post(
            "/v1/episode-events",
            json=event(f"{ep.event_id}-F", type="found", risk=None, episode_ref=ref),
            headers=r.auth(),
        )
        assert (reported.status_code, found.status_code) == (202, 202), found.text
        # Before any status: the events, and nobody told yet.
        empty = await status_of(r, path)
        assert [(e["event_id"], e["type"]) for e in empty["events"]] == [
            (ep.event_id, "reported"),
            (f"{ep.event_id}-F", "found"),
        ]
        assert all(e["accepted_at"] for e in empty["events"])
        assert empty["recipients"] == []

        statuses = [
            ep.status(SCHOOL, AlertState.QUEUED, 1),
            ep.status(SCHOOL, AlertState.SENT, 2),
            ep.status(SCHOOL, AlertState.ACKNOWLEDGED, 9),
            # Replays of older news change nothing: the first send and the
            # acknowledgement stand, and a delivery status never undoes an acknowledgement.
            ep.status(SCHOOL, AlertState.SENT, 10, attempt=1),
            ep.status(SCHOOL, AlertState.QUEUED, 1, attempt=9),
            ep.status(GP, AlertState.QUEUED, 2),
            ep.status(GP, AlertState.SENT, 3),
            ep.status(GP, AlertState.STOOD_DOWN, 30),
            ep.status(YOT, AlertState.QUEUED, 3),
            ep.status(YOT, AlertState.SENDING, 4),
            ep.status(YOT, AlertState.TEMPORARY_FAILURE, 4, attempt=1),
            ep.status(YOT, AlertState.SENT, 7, attempt=2),
            ep.status(YOT, AlertState.ACKNOWLEDGED, 12),
            ep.status(LA, AlertState.QUEUED, 4),
            ep.status(LA, AlertState.SENT, 5),
            ep.status(LA, AlertState.ACKNOWLEDGED, 20),
            # The police's own copy of an answer is not "who knows".
            ep.status(POLICE, AlertState.SENT, 10, kind=AlertKind.ANSWER),
        ]
        answers = [
            ep.answer(SCHOOL, Answer.HERE_NOW, 9),
            ep.answer(YOT, Answer.INFORMATION, 12),
            ep.answer((LA[0], LA[1], "North Tyneside Council"), Answer.NOT_KNOWN, 20),
        ]
        for status in statuses:
            await send(ALERT_STATUS.wire, status.alert_id, status)
        for answer in answers:
            await send(ALERT_ANSWERS.wire, f"10:{ref}", answer)
            await send(ALERT_ANSWERS.wire, f"10:{ref}", answer)  # redelivered: taken once
        counters = r.app.state.runtime.consumers.counters
        sent = len(statuses) + 2 * len(answers)
        await eventually(lambda: counters.processed + counters.duplicates >= sent, 60)

        body = await status_of(r, path)
        assert SECRET not in str(body)
        assert (body["force_code"], body["episode_ref"]) == ("10", ref)
        # In the order first alerted; the police force's copy left out.
        assert [(x["kind"], x["organisation_code"]) for x in body["recipients"]] == [
            ("school", "100001"),
            ("gp-practice", "A81001"),
            ("yot", "YOT-NT"),
            ("local-authority", "E08000022"),
        ]
        school, gp, yot, la = body["recipients"]
        assert school == {
            "organisation_code": "100001",
            "organisation_name": "Hillside Primary",
            "kind": "school",
            "alerts": [
                {
                    "alert_id": ep.alert_id(SCHOOL[1]),
                    "kind": "reported",
                    "event_type": "reported",
                    "state": "acknowledged",
                    "sent_at": iso(2),
                    "acknowledged_at": iso(9),
                    "answer": "here-now",
                    "answered_at": iso(9),
                }
            ],
        }
        [gp_alert] = gp["alerts"]
        assert (gp_alert["state"], gp_alert["sent_at"]) == ("stood-down", iso(3))
        assert (gp_alert["acknowledged_at"], gp_alert["answer"]) == (None, None)
        [yot_alert] = yot["alerts"]
        assert (yot_alert["state"], yot_alert["sent_at"]) == ("acknowledged", iso(7))
        assert (yot_alert["answer"], yot_alert["answered_at"]) == ("information", iso(12))
        # No name on the authority's statuses (an older notifier): its answer names it.
        assert la["organisation_name"] == "North Tyneside Council"
        [la_alert] = la["alerts"]
        assert (la_alert["event_type"], la_alert["state"], la_alert["answer"]) == (
            None,
            "acknowledged",
            "not-known",
        )

        # The reference percent-encoded is the same episode.
        assert await status_of(r, f"/v1/episodes/10/{ref.replace('/', '%2F')}") == body


async def test_only_the_episodes_force_may_look_and_bad_addresses_are_named(
    settings: RelaySettings,
) -> None:
    ref = f"MISS/2026/{uuid.uuid4().hex[:6]}"
    async with running(settings) as r:
        posted = await r.client.post(
            "/v1/episode-events", json=event(episode_ref=ref), headers=r.auth()
        )
        assert posted.status_code == 202
        other_key, _ = await add_key(r.app, "11", "Durham bridge")

        foreign = await r.client.get(f"/v1/episodes/10/{ref}", headers=r.auth(other_key))
        assert foreign.status_code == 403
        assert "force 11" in foreign.json()["error"]
        # Its own force's path: the episode is not one of its own, so unknown.
        elsewhere = await r.client.get(f"/v1/episodes/11/{ref}", headers=r.auth(other_key))
        assert elsewhere.status_code == 404
        unknown = await r.client.get("/v1/episodes/10/MISS/1999/0001", headers=r.auth())
        assert unknown.status_code == 404
        assert "error" in unknown.json()

        malformed = await r.client.get(f"/v1/episodes/1x/{ref}", headers=r.auth())
        assert malformed.status_code == 422
        [error] = malformed.json()["errors"]
        assert error["field"] == "force_code" and error["message"]
        both = await r.client.get("/v1/episodes/1x/A%00B", headers=r.auth())
        assert both.status_code == 422
        assert [e["field"] for e in both.json()["errors"]] == ["force_code", "episode_ref"]
        too_long = await r.client.get(f"/v1/episodes/10/{'R' * 65}", headers=r.auth())
        assert too_long.status_code == 422
        assert too_long.json()["errors"][0]["field"] == "episode_ref"

        assert (await r.client.get(f"/v1/episodes/10/{ref}")).status_code == 401
        bad_key = {"Authorization": "Bearer mer_10_" + "x" * 32}
        assert (await r.client.get(f"/v1/episodes/10/{ref}", headers=bad_key)).status_code == 401
        # A key is needed even to learn that an address is malformed.
        assert (await r.client.get("/v1/episodes/1x/R")).status_code == 401

        spec = (await r.client.get("/openapi.json")).json()
        operation = spec["paths"]["/v1/episodes/{force_code}/{episode_ref}"]["get"]
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": "#/components/schemas/EpisodeStatusV1"}
        assert {"RecipientStatusV1", "RecipientAlertV1"} <= set(spec["components"]["schemas"])

        # The migrations build the read model's tables as the models describe them.
        assert await schema_drift(r.app.state.runtime.db, metadata) == []


async def test_who_knows_goes_with_the_events_at_their_retention(
    database_url: Callable[[str], str],
) -> None:
    url = await asyncio.to_thread(database_url, "ingest")
    await asyncio.to_thread(upgrade, "ingest", url)
    db = Database(url)
    now = datetime.now(UTC)
    old, recent = Episode("R-OLD", "E-OLD"), Episode("R-NEW", "E-NEW")
    try:
        async with db.transaction() as session:
            out = Outbox(session, messaging, RelaySettings())
            for ep, minutes in ((old, -40 * 24 * 60), (recent, -60)):
                message = ep.status(SCHOOL, AlertState.SENT, 0)
                when = now + timedelta(minutes=minutes)
                await on_alert_status(session, message.model_copy(update={"at": when}), out)
                answer = ep.answer(SCHOOL, Answer.HERE_NOW, 0)
                await on_alert_answer(session, answer.model_copy(update={"answered_at": when}), out)
        policy = RetentionPolicy({**DEFAULT_DAYS, "accepted_events": 30})
        async with db.transaction() as session:
            await remove_expired(session, policy, now)
        async with db.transaction() as session:
            left = [
                (
                    len(await status_repository.alerts_of(session, "10", ep.ref)),
                    len(await status_repository.answers_of(session, "10", ep.ref)),
                )
                for ep in (old, recent)
            ]
        assert left == [(0, 0), (1, 1)]
    finally:
        await db.dispose()


async def test_a_batch_of_statuses_leaves_the_rows_one_at_a_time_leaves(
    database_url: Callable[[str], str],
) -> None:
    """The consumer's batch writes its statuses at the commit (handlers.HeldStatuses):
    the stored alerts are those of one status a transaction, a stored alert included."""
    ep = Episode("R-BATCH", "E-BATCH")
    first = [ep.status(SCHOOL, AlertState.QUEUED, 1), ep.status(YOT, AlertState.QUEUED, 3)]
    batch = [
        ep.status(SCHOOL, AlertState.SENT, 2),
        ep.status(GP, AlertState.QUEUED, 2),
        ep.status(SCHOOL, AlertState.ACKNOWLEDGED, 9),
        ep.status(GP, AlertState.SENT, 3),
        ep.status(SCHOOL, AlertState.SENT, 10, attempt=1),  # a replay: changes nothing
        ep.status(YOT, AlertState.SENDING, 4),
        ep.status(GP, AlertState.STOOD_DOWN, 30),
        ep.status(YOT, AlertState.TEMPORARY_FAILURE, 4, attempt=1),
        ep.status(LA, AlertState.QUEUED, 4),
        ep.status(POLICE, AlertState.SENT, 10, kind=AlertKind.ANSWER),
    ]

    async def stored(db: Database) -> list[Any]:
        async with db.transaction() as session:
            rows = await status_repository.alerts_of(session, "10", ep.ref)
        return sorted(rows, key=lambda r: r.alert_id)

    async def take(db: Database, messages: list[AlertStatusV1]) -> None:
        async with db.transaction() as session:
            out = Outbox(session, messaging, RelaySettings())
            for message in messages:
                await on_alert_status(session, message, out)

    dbs = []
    try:
        for name in ("ingest_batch", "ingest_single"):
            url = await asyncio.to_thread(database_url, name)
            await asyncio.to_thread(upgrade, "ingest", url)
            dbs.append(Database(url))
        together, alone = dbs
        for db in dbs:
            await take(db, first)
        await take(together, batch)
        for message in batch:
            await take(alone, [message])
        rows = await stored(together)
        assert rows == await stored(alone)
        assert len(rows) == 5
        by_code = {r.recipient_code: r for r in rows}
        assert by_code[SCHOOL[1]].state is AlertState.ACKNOWLEDGED
        assert by_code[SCHOOL[1]].sent_at == at(2)
        assert by_code[GP[1]].state is AlertState.STOOD_DOWN
        assert by_code[YOT[1]].state is AlertState.TEMPORARY_FAILURE
    finally:
        for db in dbs:
            await db.dispose()
