"""The router's part of issue 17 on the real database: a "we do not know this child"
answer disputes the roll match, so later events of the episode go to review for that
organisation until a person confirms it (or never reach it once refuted); a withdrawn
episode is one request to the responsible authority and leaves the repeat history; the
force's own address rides on every alert."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from schemas.base import derived_id
from schemas.messages import AlertAnswerV1, Answer, OrgKind
from services.router import disputes, person_index
from services.router.handlers import on_episode_event, on_identity_decision
from services.runtime.database import Database, utcnow
from services.runtime.migrations import upgrade
from tests.integration.test_router_reviews import Published, decision, relay
from tests.integration.test_router_routing import event

NLD = "E06000057"
ORGS = f"""code,kind,name,email,la_code
{NLD},local-authority,Northumberland Council,mc@northumberland.example,
100001,school,Morpeth First School,dsl@morpeth.example,{NLD}
10,police-force,Northumbria Police,mpu@northumbria.police.example,
"""
ROLL = """org_code,record_id,given_name,family_name,date_of_birth
100001,S1,Mia,Khan,2012-01-02
"""
CHILD = {"given_name": "Mia", "family_name": "Khan", "date_of_birth": "2012-01-02"}


async def directory(url: str, tmp_path: Path, orgs: str = ORGS) -> None:
    """A router database with ``orgs`` and a roll of one child, imported as operators do."""
    await asyncio.to_thread(upgrade, "router", url)
    (tmp_path / "orgs.csv").write_text(orgs, encoding="utf-8")
    (tmp_path / "roll.csv").write_text(ROLL, encoding="utf-8")
    env = {"RELAY_ROUTER_DATABASE_URL": url}
    for kind, name in (("organisations", "orgs.csv"), ("roll", "roll.csv")):
        code, out = await asyncio.to_thread(
            relay, env, "directory", "import", kind, str(tmp_path / name), "--json"
        )
        assert code == 0 and json.loads(out)["skipped"] == 0, out


async def routed(db: Database, message: Any, handler: Any = on_episode_event) -> Published:
    out = Published()
    async with db.transaction() as session:
        await handler(session, message, out)
    return out


def not_known(alert: Any) -> AlertAnswerV1:
    return AlertAnswerV1(
        message_id=str(uuid.uuid4()),
        alert_id=alert.alert_id,
        answer=Answer.NOT_KNOWN,
        answered_at=utcnow(),
        force_code=alert.episode.force_code,
        episode_ref=alert.episode.episode_ref,
        event_message_id=alert.episode.event_message_id,
        recipient_code=alert.recipient.code,
        recipient_kind=alert.recipient.kind,
        recipient_name=alert.recipient.name,
        roll_record_id=alert.roll_record_id,
    )


async def test_a_not_known_answer_holds_the_school_until_a_person_confirms(
    tmp_path: Path, database_url: Callable[[str], str]
) -> None:
    url = await asyncio.to_thread(database_url, "router")
    await directory(url, tmp_path)
    db = Database(url)
    try:
        first = await routed(db, event("reported", "MP/7", CHILD))
        school = next(a for a in first.on("alerts-requested") if a.recipient.code == "100001")
        assert school.roll_record_id == "S1"
        # Answers go to the force's own address when the event names no contact email.
        assert school.police_force is not None
        assert school.police_force.kind is OrgKind.POLICE_FORCE
        assert school.police_force.email == "mpu@northumbria.police.example"

        answer = not_known(school)
        await routed(db, answer, disputes.on_alert_answer)
        await routed(db, answer, disputes.on_alert_answer)  # a replay: one dispute

        # While disputed, the school's next alert waits for a person.
        still = await routed(db, event("still-missing", "MP/7", CHILD))
        assert [a.recipient.code for a in still.on("alerts-requested")] == [NLD]
        [review] = still.on("identity-reviews")
        assert [c.org_code for c in review.candidates] == ["100001"]

        # The mash user confirms the match (the console's review of the answer): the
        # still-missing held for the school meanwhile is decided with it and goes out.
        review_id = derived_id(school.alert_id, "not-known")
        confirmed = await routed(db, decision(review_id, "S1"), on_identity_decision)
        [held] = confirmed.on("alerts-requested")
        assert (held.recipient.code, held.policy_rule) == ("100001", "still-missing.school")
        [alike] = confirmed.on("identity-decisions")
        assert (alike.review_id, alike.roll_record_id) == (review.review_id, "S1")
        found = await routed(db, event("found", "MP/7", CHILD))
        assert {a.recipient.code for a in found.on("alerts-requested")} == {NLD, "100001"}
    finally:
        await db.dispose()


async def test_a_refuted_match_never_reaches_the_school_again(
    tmp_path: Path, database_url: Callable[[str], str]
) -> None:
    url = await asyncio.to_thread(database_url, "router")
    await directory(url, tmp_path)
    db = Database(url)
    try:
        first = await routed(db, event("reported", "MP/8", CHILD))
        school = next(a for a in first.on("alerts-requested") if a.recipient.code == "100001")
        await routed(db, not_known(school), disputes.on_alert_answer)
        review_id = derived_id(school.alert_id, "not-known")
        await routed(db, decision(review_id, None), on_identity_decision)
        found = await routed(db, event("found", "MP/8", CHILD))
        assert [a.recipient.code for a in found.on("alerts-requested")] == [NLD]
        assert found.on("identity-reviews") == []
        # Nor in the child's next episode: a person agreed the school does not know the
        # child, so the matcher's match of that record goes to a person
        # (services/router/person_decisions.py), and the authority is told meanwhile.
        other = await routed(db, event("reported", "MP/9", CHILD))
        assert {a.recipient.code for a in other.on("alerts-requested")} == {NLD}
        [review] = other.on("identity-reviews")
        assert [c.explanation["rule"] for c in review.candidates] == ["decided-otherwise"]
    finally:
        await db.dispose()


async def test_a_withdrawn_episode_is_one_request_and_leaves_the_repeat_history(
    tmp_path: Path, database_url: Callable[[str], str]
) -> None:
    url = await asyncio.to_thread(database_url, "router")
    await directory(url, tmp_path)
    db = Database(url)
    try:
        await routed(db, event("reported", "MP/10", CHILD))
        async with db.transaction() as session:
            key = await person_index.child_of(session, "10", "MP/10")
            assert key is not None
            assert len((await person_index.reported_history(session, key, "10", "MP/10"))[0]) == 1
        withdrawn = await routed(
            db, event("withdrawn", "MP/10", CHILD, reason="raised for the wrong child")
        )
        [request] = withdrawn.on("alerts-requested")
        assert (request.kind.value, request.recipient.code) == ("withdrawn", NLD)
        assert request.policy_rule == "withdrawn.la"
        assert "wrong child" not in request.model_dump_json()  # police free text stays
        assert withdrawn.on("identity-reviews") == []
        async with db.transaction() as session:
            history, _ = await person_index.reported_history(session, key, "10", "MP/10")
        assert history == []
    finally:
        await db.dispose()
