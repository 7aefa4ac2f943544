"""Human review of doubtful identities on the real broker and database (SQLite, or
PostgreSQL when RELAY_TEST_DATABASE_URL is set): a held event reaches only the local
authority, `relay reviews list|decide` shows and decides it, and the router then tells
the organisation exactly once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from typer.testing import CliRunner

from relay.cli import app as relay_app
from schemas.base import derived_id
from schemas.catalogue import ALERTS_REQUESTED, EPISODE_EVENTS, IDENTITY_DECISIONS, IDENTITY_REVIEWS
from schemas.messages import IdentityDecisionV1
from services.router import review_store
from services.router.app import create_app
from services.router.handlers import on_episode_event, on_identity_decision
from services.runtime.database import Database, utcnow
from services.runtime.handling import UnprocessableError
from services.runtime.kafka import group_options
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.conftest import eventually
from tests.integration.test_router_routing import event

NLD = "E06000057"
ORGS = f"""code,kind,name,email,la_code
{NLD},local-authority,Northumberland Council,mc@northumberland.example,
100001,school,Morpeth First School,dsl@morpeth.example,{NLD}
"""
# The NHS number agrees with the police record's; the name and date of birth are another
# child's altogether. That must go to a person, never straight to the school.
ROLL = """org_code,record_id,given_name,family_name,date_of_birth,nhs_number
100001,S9,Oliver,Thompson,2009-11-02,9434765919
100001,S2,Jack,Smith,2011-01-01,
"""
CHILD = {
    "given_name": "Zoe",
    "family_name": "O'Brien",
    "date_of_birth": "2012-05-31",
    "nhs_number": "9434765919",
}
PERSONAL = ("Zoe", "O'Brien", "2012-05-31", "Oliver", "Thompson", "2009-11-02")


def relay(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(relay_app, list(args), env=env)
    crashed = "" if isinstance(result.exception, SystemExit | None) else repr(result.exception)
    return result.exit_code, result.output + crashed


async def load_directory(url: str, tmp_path: Path) -> None:
    await asyncio.to_thread(upgrade, "router", url)
    (tmp_path / "orgs.csv").write_text(ORGS, encoding="utf-8")
    (tmp_path / "roll.csv").write_text(ROLL, encoding="utf-8")
    env = {"RELAY_ROUTER_DATABASE_URL": url}
    for kind, name in (("organisations", "orgs.csv"), ("roll", "roll.csv")):
        code, out = await asyncio.to_thread(
            relay, env, "directory", "import", kind, str(tmp_path / name), "--json"
        )
        assert code == 0 and json.loads(out)["skipped"] == 0, out


class Published:
    """A fake outbox: what a handler asked to publish."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, Any]] = []

    async def publish(self, topic: Any, key: str | None, message: Any) -> None:
        self.messages.append((topic.name, message))

    def on(self, name: str) -> list[Any]:
        return [m for t, m in self.messages if t == name]


def decision(review_id: str, record: str | None, **extra: Any) -> IdentityDecisionV1:
    return IdentityDecisionV1(
        message_id=str(uuid.uuid4()),
        review_id=review_id,
        decision="match" if record else "no-match",
        roll_record_id=record,
        decided_by="mash",
        decided_at=utcnow(),
        **extra,
    )


async def test_handlers_hold_decide_once_and_refuse_unknown_reviews(
    tmp_path: Path, database_url: Callable[[str], str]
) -> None:
    """The handlers on the real database (no broker): a held review, a no-match, a match,
    a second decision ignored, an unknown review or record refused."""
    url = await asyncio.to_thread(database_url, "router")
    await load_directory(url, tmp_path)
    db = Database(url)
    try:
        # Two children (the same NHS number, mistyped for one of them: names and date of
        # birth plainly differ), or a decision on one would answer the other's review too
        # (tests/integration/test_router_decided_reviews.py).
        other = {
            **CHILD,
            "given_name": "Amy",
            "family_name": "Brown",
            "date_of_birth": "2010-01-01",
        }
        held_events = [event("reported", "MP/1", CHILD), event("reported", "MP/2", other)]
        review_ids = []
        for e in held_events:
            out = Published()
            async with db.transaction() as session:
                await on_episode_event(session, e, out)  # type: ignore[arg-type]
            # (Amy's NHS number also asks whether she is Zoe: a same-child review.)
            [review] = [r for r in out.on("identity-reviews") if r.question == "roll-record"]
            assert [a.recipient.code for a in out.on("alerts-requested")] == [NLD]
            review_ids.append(review.review_id)
        async with db.transaction() as session:
            pending = await review_store.listing(session, "pending")
        assert [r.review_id for r in pending] == review_ids
        assert [c.roll_record_id for c in pending[0].candidates] == ["S9"]
        assert pending[0].event().message_id == held_events[0].message_id

        async def apply(d: IdentityDecisionV1) -> Published:
            out = Published()
            async with db.transaction() as session:
                await on_identity_decision(session, d, out)  # type: ignore[arg-type]
            return out

        with pytest.raises(UnprocessableError, match="no identity review nope"):
            await apply(decision("nope", "S9"))
        with pytest.raises(UnprocessableError, match="S2 is not one of its candidates"):
            await apply(decision(review_ids[0], "S2"))

        assert (await apply(decision(review_ids[1], None))).messages == []
        [alert] = (await apply(decision(review_ids[0], "S9"))).on("alerts-requested")
        assert (alert.recipient.code, alert.policy_rule, alert.roll_record_id) == (
            "100001",
            "reported.school",
            "S9",
        )
        assert alert.episode.event_message_id == held_events[0].message_id
        # Another reviewer's later decision changes nothing.
        assert (await apply(decision(review_ids[0], None))).messages == []
        assert (await apply(decision(review_ids[1], "S9"))).messages == []
        async with db.transaction() as session:
            states = {r.review_id: r for r in await review_store.listing(session)}
        assert states[review_ids[0]].state == "matched"
        assert states[review_ids[0]].roll_record_id == "S9"
        assert states[review_ids[1]].state == "no-match"
        assert states[review_ids[1]].decided_by == "mash"
    finally:
        await db.dispose()


async def test_a_reviewed_child_reaches_the_school_once_decided(
    settings: RelaySettings, tmp_path: Path
) -> None:
    url = settings.router_database_url
    assert url is not None
    await load_directory(url, tmp_path)
    env = {
        "RELAY_ROUTER_DATABASE_URL": url,
        "RELAY_KAFKA_BOOTSTRAP": settings.bootstrap,
        "RELAY_TOPIC_PREFIX": settings.topic_prefix,
    }
    held = event("reported", "MP/7", CHILD)

    app = create_app(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, enable_idempotence=False)
    names = {
        settings.topic(ALERTS_REQUESTED.wire): "alerts",
        settings.topic(IDENTITY_REVIEWS.wire): "reviews",
        settings.topic(IDENTITY_DECISIONS.dlq): "dlq",
        settings.topic(EPISODE_EVENTS.dlq): "dlq",
    }
    consumer = AIOKafkaConsumer(
        *names,
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="earliest",
        group_id=f"probe-{uuid.uuid4().hex}",
        **group_options(settings),
    )
    got: dict[str, list[dict[str, Any]]] = {"alerts": [], "reviews": [], "dlq": []}

    async def drain() -> None:
        batch = await consumer.getmany(timeout_ms=300)
        for records in batch.values():
            for r in records:
                got[names[r.topic]].append(json.loads(r.value))

    def alerted(code: str) -> list[dict[str, Any]]:
        return [a for a in got["alerts"] if a["recipient"]["code"] == code]

    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        await producer.start()
        await consumer.start()
        try:
            await producer.send_and_wait(
                settings.topic(EPISODE_EVENTS.wire),
                held.model_dump_json().encode(),
                key=held.episode_key.encode(),
            )

            async def held_for_review() -> bool:
                await drain()
                return bool(got["reviews"]) and bool(got["alerts"])

            await eventually(held_for_review, 90)
            # The authority knows at once; the school waits for a person.
            [review] = got["reviews"]
            assert [(a["recipient"]["code"], a["policy_rule"]) for a in got["alerts"]] == [
                (NLD, "reported.la")
            ]
            assert [c["roll_record_id"] for c in review["candidates"]] == ["S9"]
            review_id = review["review_id"]

            code, out = await asyncio.to_thread(
                relay, env, "reviews", "list", "--json", "--state", "pending"
            )
            assert code == 0, out
            [listed] = json.loads(out)
            assert listed["review_id"] == review_id
            assert (listed["org_code"], listed["episode_ref"], listed["state"]) == (
                "100001",
                "MP/7",
                "pending",
            )
            assert [c["roll_record_id"] for c in listed["candidates"]] == ["S9"]
            # The matcher's explanation, whatever its detail: the NHS number agreed.
            assert listed["candidates"][0]["explanation"]["nhs_number"].startswith("agree")
            code, table = await asyncio.to_thread(relay, env, "reviews", "list")
            assert code == 0 and review_id in table, table
            for personal in PERSONAL:
                assert personal not in out and personal not in table

            code, out = await asyncio.to_thread(
                relay, env, "reviews", "decide", review_id, "--record", "S2"
            )
            assert code == 2 and "--record" in out and "S2 is not one of its candidates" in out
            code, out = await asyncio.to_thread(
                relay, env, "reviews", "decide", review_id, "--record", "S9", "--by", "MASH A"
            )
            assert code == 0, out

            async def school_told() -> list[dict[str, Any]]:
                await drain()
                return alerted("100001")

            [alert] = await eventually(school_told, 60)
            assert (alert["policy_rule"], alert["roll_record_id"]) == ("reported.school", "S9")
            assert alert["alert_id"] == derived_id(held.message_id, "100001", "reported")

            # Decided: a second decide is refused, naming why; the listing shows it.
            code, out = await asyncio.to_thread(
                relay, env, "reviews", "decide", review_id, "--none"
            )
            assert code == 2 and "already decided (matched by MASH A" in out, out
            code, out = await asyncio.to_thread(relay, env, "reviews", "list", "--json")
            [listed] = json.loads(out)
            assert (listed["state"], listed["roll_record_id"]) == ("matched", "S9")

            # The same decision again (a redelivery) and a late decision from someone else
            # change nothing; a decision on an unknown review is dead-lettered.
            again = IdentityDecisionV1(
                message_id=derived_id(review_id, "decision"),
                review_id=review_id,
                decision="match",
                roll_record_id="S9",
                decided_by="MASH A",
                decided_at=utcnow(),
            )
            for d in (again, decision(review_id, None), decision("no-such-review", "S9")):
                await producer.send_and_wait(
                    settings.topic(IDENTITY_DECISIONS.wire),
                    d.model_dump_json().encode(),
                    key=d.review_id.encode(),
                )

            async def all_seen() -> bool:
                await drain()
                return bool(got["dlq"]) and runtime.consumers.counters.duplicates >= 1

            await eventually(all_seen, 60)
            await eventually(
                lambda: runtime.consumers.counters.by_topic.get(IDENTITY_DECISIONS.wire) == 2, 30
            )
            await drain()
        finally:
            await consumer.stop()
            await producer.stop()

    assert len(alerted("100001")) == 1 and len(alerted(NLD)) == 1
    [letter] = got["dlq"]
    assert letter["topic"] == IDENTITY_DECISIONS.wire
    assert "no identity review no-such-review" in letter["error"]
