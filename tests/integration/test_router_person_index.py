"""One child across episodes (issue 20) on the real database (SQLite, or PostgreSQL when
RELAY_TEST_DATABASE_URL is set): the router links episodes by the police person id,
the NHS number, the same roll record and a confident match; twins stay two children; a
doubtful link is a same-child review whose yes merges; merges and splits are checked,
applied once and published with the next revision; the migration keeps the episodes
counted before the index."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select, text

from schemas.base import derived_id
from schemas.child_identity import ChildIdentityChangeV1, EpisodeKeyV1, LinkBasis
from schemas.messages import IdentityDecisionV1
from services.router import person_index
from services.router.app import announce_unannounced
from services.router.handlers import (
    on_child_identity_change,
    on_episode_event,
    on_identity_decision,
)
from services.router.tables import metadata, person_episodes
from services.runtime.database import Database
from services.runtime.handling import UnprocessableError
from services.runtime.migrations import alembic_config, upgrade
from services.runtime.service import ServiceRuntime
from services.runtime.settings import RelaySettings
from tests.integration.test_router_reviews import Published, load_directory
from tests.integration.test_router_routing import event
from tests.schema import schema_drift

GRACE = {"given_name": "Grace", "family_name": "Hall", "date_of_birth": "2012-03-04"}
NHS = "9434765919"


async def routed(db: Database, e: Any) -> Published:
    out = Published()
    async with db.transaction() as session:
        await on_episode_event(session, e, out)  # type: ignore[arg-type]
    return out


async def child_of(db: Database, ref: str) -> str:
    async with db.transaction() as session:
        child_id = await person_index.child_of(session, "10", ref)
    assert child_id is not None
    return child_id


@pytest.fixture
async def db(tmp_path: Path, database_url: Callable[[str], str]) -> Any:
    url = await asyncio.to_thread(database_url, "router")
    await load_directory(url, tmp_path)  # a school roll without Grace
    database = Database(url)
    yield database
    await database.dispose()


async def test_grace_hall_with_and_without_an_nhs_number_and_as_gracie_is_one_child(
    db: Database,
) -> None:
    first = await routed(db, event("reported", "E1", {**GRACE, "nhs_number": NHS}))
    [link] = first.on("child-identities")
    assert link.revision == 1 and link.basis is LinkBasis.NEW
    assert {a.child_id for a in first.on("alerts-requested")} == {link.child_id}
    await routed(db, event("reported", "E2", GRACE))  # no NHS number: names and birthday
    third = await routed(db, event("reported", "E3", {**GRACE, "given_name": "Gracie"}))
    assert {await child_of(db, ref) for ref in ("E1", "E2", "E3")} == {link.child_id}
    assert [m.basis for m in third.on("child-identities")] == [LinkBasis.MATCHED]
    # A later event of the episode keeps its child, and is not announced again.
    again = await routed(db, event("found", "E3", {**GRACE, "given_name": "Gracie"}))
    assert again.on("child-identities") == []
    assert {a.child_id for a in again.on("alerts-requested")} == {link.child_id}


async def test_the_police_person_id_links_within_a_force_and_not_across(db: Database) -> None:
    await routed(db, event("reported", "P1", {**GRACE, "police_person_id": "N123"}))
    moved = {**GRACE, "postcode": "NE61 1AA", "police_person_id": "N123"}
    second = await routed(db, event("reported", "P2", {**moved, "family_name": "Hall-Smith"}))
    assert [m.basis for m in second.on("child-identities")] == [LinkBasis.POLICE_PERSON_ID]
    assert await child_of(db, "P1") == await child_of(db, "P2")
    # Another force's person id N123 is another person's: no evidence (names still link).
    other = event("reported", "P3", {**GRACE, "police_person_id": "N123"}, force_code="11")
    out = await routed(db, other)
    assert [m.basis for m in out.on("child-identities")] == [LinkBasis.MATCHED]


async def test_twins_at_one_address_stay_two_children(db: Database) -> None:
    home = {"date_of_birth": "2013-07-01", "postcode": "NE61 1AA", "address": "3 Mill Lane"}
    await routed(db, event("reported", "T1", {"given_name": "Ava", "family_name": "Reed", **home}))
    out = await routed(
        db, event("reported", "T2", {"given_name": "Isla", "family_name": "Reed", **home})
    )
    assert await child_of(db, "T1") != await child_of(db, "T2")
    assert [m.basis for m in out.on("child-identities")] == [LinkBasis.NEW]
    # A sibling with another birthday at the same address is no question either.
    sib = {**home, "date_of_birth": "2010-02-02", "given_name": "Leo", "family_name": "Reed"}
    await routed(db, event("reported", "T3", sib))
    assert len({await child_of(db, r) for r in ("T1", "T2", "T3")}) == 3


async def test_a_doubtful_link_is_a_same_child_review_whose_yes_merges(db: Database) -> None:
    await routed(db, event("reported", "D1", {**GRACE, "police_person_id": "A1"}))
    # The same name and birthday, but the force gave another person id: two nominal
    # records of one child happen in police systems, yet they are never linked alone.
    doubtful = {**GRACE, "police_person_id": "A2"}
    out = await routed(db, event("reported", "D2", doubtful))
    [review] = out.on("identity-reviews")
    assert review.question == "same-child"
    assert review.child_id == await child_of(db, "D2") != await child_of(db, "D1")
    [candidate] = review.candidates
    assert candidate.child_id == await child_of(db, "D1")
    assert (candidate.given_name, candidate.episodes) == ("Grace", 1)
    decided = Published()
    yes = IdentityDecisionV1(
        message_id=derived_id(review.review_id, "decision"),
        review_id=review.review_id,
        decision="match",
        child_id=candidate.child_id,
        decided_by="mash.lee",
        decided_at=datetime.now(UTC),
    )
    async with db.transaction() as session:
        await on_identity_decision(session, yes, decided)  # type: ignore[arg-type]
    [moved] = decided.on("child-identities")
    assert (moved.child_id, moved.revision, moved.basis) == (
        candidate.child_id,
        2,
        LinkBasis.REVIEWED,
    )
    assert moved.previous_child_id == review.child_id
    assert await child_of(db, "D2") == candidate.child_id
    # The first decision stands: a second changes nothing.
    async with db.transaction() as session:
        await on_identity_decision(session, yes, Published())  # type: ignore[arg-type]


def change(**values: Any) -> ChildIdentityChangeV1:
    change_id = str(uuid.uuid4())
    return ChildIdentityChangeV1.model_validate(
        {
            "message_id": change_id,
            "change_id": change_id,
            "reason": "the school knows them as one child",
            "requested_by": "chair",
            "requested_at": datetime.now(UTC),
            **values,
        }
    )


async def apply(db: Database, c: ChildIdentityChangeV1) -> Published:
    out = Published()
    async with db.transaction() as session:
        await on_child_identity_change(session, c, out)  # type: ignore[arg-type]
    return out


async def test_merge_and_split_are_checked_applied_once_and_published(db: Database) -> None:
    await routed(db, event("reported", "M1", GRACE))
    await routed(db, event("reported", "M2", GRACE))
    other = {"given_name": "Jo", "family_name": "Lund", "date_of_birth": "2011-09-09"}
    await routed(db, event("reported", "M3", other))
    grace, jo = await child_of(db, "M1"), await child_of(db, "M3")
    # Different dates of birth: refused without the confirmation, nothing moved.
    refused = change(action="merge", child_id=jo, into_child_id=grace)
    with pytest.raises(UnprocessableError, match="different dates of birth"):
        await apply(db, refused)
    assert await child_of(db, "M3") == jo
    merged = change(
        action="merge", child_id=jo, into_child_id=grace, confirmed_different_dates_of_birth=True
    )
    out = await apply(db, merged)
    [link] = out.on("child-identities")
    assert (link.episode_ref, link.child_id, link.revision, link.basis) == (
        "M3",
        grace,
        2,
        LinkBasis.MERGED,
    )
    assert (link.change_id, link.changed_by, link.previous_child_id) == (
        merged.change_id,
        "chair",
        jo,
    )
    assert (await apply(db, merged)).on("child-identities") == []  # once
    # Split M3 off again: a new child, derived from the change.
    split = change(
        action="split", child_id=grace, episodes=[EpisodeKeyV1(force_code="10", episode_ref="M3")]
    )
    out = await apply(db, split)
    [link] = out.on("child-identities")
    assert (link.child_id, link.revision) == (split.new_child_id, 3)
    assert await child_of(db, "M3") == split.new_child_id
    # Every episode split off: nothing would be left of the child.
    everything = change(
        action="split",
        child_id=grace,
        episodes=[EpisodeKeyV1(force_code="10", episode_ref=r) for r in ("M1", "M2")],
    )
    with pytest.raises(UnprocessableError, match="at least one episode"):
        await apply(db, everything)


def test_a_child_is_never_merged_into_itself() -> None:
    child_id = str(uuid.uuid4())
    with pytest.raises(ValueError, match="into itself"):
        change(action="merge", child_id=child_id, into_child_id=child_id)


async def test_the_migration_keeps_the_episodes_counted_before_the_index(
    database_url: Callable[[str], str],
) -> None:
    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url, "0005")
    db = Database(url)
    rows = [
        ("A1", "name:hall|grace|2012-03-04"),
        ("A2", "name:hall|grace|2012-03-04"),
        ("A3", f"nhs:{NHS}"),
    ]
    try:
        async with db.transaction() as session:
            for ref, key in rows:
                await session.execute(
                    text(
                        "INSERT INTO router_episodes (force_code, episode_ref, child_key,"
                        " reported_at, repeat_flagged) VALUES ('10', :ref, :key, :at, false)"
                    ),
                    {"ref": ref, "key": key, "at": datetime(2026, 11, 1, tzinfo=UTC)},
                )
        await db.dispose()
        await asyncio.to_thread(upgrade, "router", url)
        assert await schema_drift(db, metadata) == []
        async with db.transaction() as session:
            got = {r.episode_ref: r for r in (await session.execute(select(person_episodes))).all()}
            history, _ = await person_index.reported_history(
                session, got["A1"].child_id, "10", "A1"
            )
        assert got["A1"].child_id == got["A2"].child_id != got["A3"].child_id
        assert (got["A1"].norm_family, got["A1"].basis, got["A1"].announced) == (
            "hall",
            "migrated",
            0,
        )
        assert got["A3"].nhs_number == NHS and got["A3"].date_of_birth is None
        assert len(history) == 2
        # A new episode of Grace links to the migrated child.
        later = event("reported", "A4", {**GRACE, "nhs_number": NHS})
        async with db.transaction() as session:
            linked = await person_index.link_episode(session, later, [], datetime.now(UTC))
        assert linked.child_id == got["A3"].child_id
        await db.dispose()
        await asyncio.to_thread(command.downgrade, alembic_config("router", url), "0005")
        await asyncio.to_thread(upgrade, "router", url)
        assert await schema_drift(db, metadata) == []
    finally:
        await db.dispose()


async def test_links_of_before_the_index_are_announced_once(
    tmp_path: Path, database_url: Callable[[str], str]
) -> None:
    url = await asyncio.to_thread(database_url, "router")
    settings = RelaySettings(
        kafka_bootstrap="127.0.0.1:9", router_database_url=url, var_dir=tmp_path, topic_prefix="t."
    )
    runtime = ServiceRuntime.build("router", settings, metadata)  # no broker is started
    await asyncio.to_thread(upgrade, "router", url)
    try:
        async with runtime.db.transaction() as session:
            for n in range(3):
                await session.execute(
                    person_episodes.insert().values(
                        force_code="10",
                        episode_ref=f"OLD{n}",
                        child_id=str(uuid.uuid4()),
                        revision=1,
                        announced=0,
                        basis="migrated",
                        withdrawn=False,
                        first_seen_at=datetime.now(UTC),
                        updated_at=datetime.now(UTC),
                    )
                )
        assert await announce_unannounced(runtime) == 3
        assert await announce_unannounced(runtime) == 0
        async with runtime.db.transaction() as session:
            queued = (
                await session.execute(
                    select(runtime.tables.outbox.c.topic).where(
                        runtime.tables.outbox.c.published_at.is_(None)
                    )
                )
            ).all()
        assert [t for (t,) in queued] == [settings.topic("child-identities.v1")] * 3
    finally:
        await runtime.db.dispose()
