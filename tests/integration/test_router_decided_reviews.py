"""A person's decision on a review follows the child (services/router/person_decisions.py)
on the real database (SQLite, or PostgreSQL when RELAY_TEST_DATABASE_URL is set): the
episode's ``found`` held while its ``reported`` waited is decided with it, and the
episode's later events and the child's next episode reach the school with no review; a
``no-match`` tells the school nothing again; a withdrawn episode's decision counts no
more."""

from __future__ import annotations

from datetime import timedelta

from services.router import review_store
from services.router.disputes import dispute_id, on_alert_answer
from services.router.handlers import on_identity_decision
from services.runtime.database import Database
from tests.integration.test_router_episode_loop import not_known
from tests.integration.test_router_person_index import db, routed  # noqa: F401
from tests.integration.test_router_reviews import (
    CHILD,
    NLD,
    Published,
    decision,
)
from tests.integration.test_router_routing import AT, event

SCHOOL = "100001"
# The NHS number agrees with S9's, the names and date of birth do not: always a review.
ZOE = {**CHILD, "police_person_id": "N77"}


async def decided(database: Database, review_id: str, record: str | None) -> Published:
    out = Published()
    async with database.transaction() as session:
        await on_identity_decision(session, decision(review_id, record), out)  # type: ignore[arg-type]
    return out


def told(out: Published) -> list[tuple[str, str]]:
    return sorted((a.recipient.code, a.policy_rule) for a in out.on("alerts-requested"))


async def states(database: Database) -> dict[str, tuple[str, str | None]]:
    async with database.transaction() as session:
        held = await review_store.listing(session)
    return {(r.episode_ref + ":" + r.event_type): (r.state, r.roll_record_id) for r in held}


async def test_a_match_a_person_made_follows_the_episode_and_the_child(db: Database) -> None:  # noqa: F811
    reported = await routed(db, event("reported", "R1", ZOE))
    [review] = reported.on("identity-reviews")
    assert told(reported) == [(NLD, "reported.la")]
    # Found before anyone decided: held too, the authority told.
    found = await routed(db, event("found", "R1", ZOE))
    assert len(found.on("identity-reviews")) == 1
    assert told(found) == [(NLD, "found.la")]

    out = await decided(db, review.review_id, "S9")
    # The school hears of both events, each once; the found's review is decided with it.
    assert told(out) == [(SCHOOL, "found.school"), (SCHOOL, "reported.school")]
    assert await states(db) == {"R1:reported": ("matched", "S9"), "R1:found": ("matched", "S9")}
    [alike] = out.on("identity-decisions")  # for the console's queue
    assert (alike.review_id, alike.roll_record_id) == (
        found.on("identity-reviews")[0].review_id,
        "S9",
    )

    # The episode's next event and the child's next episode: no review, the school told.
    returned = await routed(db, event("returned", "R1", ZOE))
    assert returned.on("identity-reviews") == []
    assert (SCHOOL, "returned.school") in told(returned)
    again = await routed(db, event("reported", "R2", ZOE))
    assert again.on("identity-reviews") == []
    assert told(again) == [(SCHOOL, "reported.school"), (NLD, "reported.la")]
    [alert] = [a for a in again.on("alerts-requested") if a.recipient.code == SCHOOL]
    assert alert.roll_record_id == "S9"
    assert len(await states(db)) == 2  # no review was held for R1:returned or R2


async def test_no_match_is_not_asked_again_and_a_withdrawn_episode_decides_nothing(
    db: Database,  # noqa: F811
) -> None:
    [review] = (await routed(db, event("reported", "W1", ZOE))).on("identity-reviews")
    assert told(await decided(db, review.review_id, None)) == []
    found = await routed(db, event("found", "W1", ZOE))
    assert found.on("identity-reviews") == [] and told(found) == [(NLD, "found.la")]
    # The police withdraw the episode (the wrong child): its decision counts no more.
    await routed(db, event("withdrawn", "W1", ZOE, reason="raised for the wrong child"))
    later = await routed(db, event("reported", "W2", ZOE))
    assert len(later.on("identity-reviews")) == 1
    assert told(later) == [(NLD, "reported.la")]


async def test_a_school_that_does_not_know_the_child_stops_the_decision_following(
    db: Database,  # noqa: F811
) -> None:
    [review] = (await routed(db, event("reported", "D1", ZOE))).on("identity-reviews")
    [alert] = (await decided(db, review.review_id, "S9")).on("alerts-requested")
    # The school answers "we do not know this child": the next episode is a person's
    # again, not the earlier match followed.
    async with db.transaction() as session:
        await on_alert_answer(session, not_known(alert), Published())  # type: ignore[arg-type]
    again = await routed(db, event("reported", "D2", ZOE))
    [pending] = again.on("identity-reviews")
    assert told(again) == [(NLD, "reported.la")]
    # A person agrees with the school (the dispute refuted): not S9, and nothing asked of
    # anyone about S9 again.
    refuted = Published()
    async with db.transaction() as session:
        await on_identity_decision(session, decision(dispute_id(alert.alert_id), None), refuted)  # type: ignore[arg-type]
    # D2's review of S9 alone is answered by it, and decided with it.
    [alike] = refuted.on("identity-decisions")
    assert (alike.review_id, alike.decision) == (pending.review_id, "no-match")
    assert refuted.on("alerts-requested") == []
    third = await routed(db, event("reported", "D3", ZOE))
    assert third.on("identity-reviews") == []
    assert SCHOOL not in {code for code, _ in told(third)}  # (the third episode: repeat.mset)


async def test_a_match_a_person_ruled_out_is_not_sent_again_in_the_next_episode(
    db: Database,  # noqa: F811
) -> None:
    jack = {"given_name": "Jack", "family_name": "Smith", "date_of_birth": "2011-01-01"}
    jack["police_person_id"] = "N12"
    first = await routed(db, event("reported", "J1", jack))
    [alert] = [a for a in first.on("alerts-requested") if a.recipient.code == SCHOOL]
    assert alert.roll_record_id == "S2"  # the matcher's own match
    async with db.transaction() as session:
        await on_alert_answer(session, not_known(alert), Published())  # type: ignore[arg-type]
    refuted = decision(dispute_id(alert.alert_id), None)
    async with db.transaction() as session:
        await on_identity_decision(session, refuted, Published())  # type: ignore[arg-type]
    # The school said it does not know Jack and a person agreed: his next episode's match
    # of S2 goes to a person, and the school hears nothing of it meanwhile.
    second = await routed(db, event("reported", "J2", jack))
    assert told(second) == [(NLD, "reported.la")]
    [review] = second.on("identity-reviews")
    [candidate] = review.candidates
    assert (candidate.roll_record_id, candidate.explanation["rule"]) == ("S2", "decided-otherwise")


async def test_deciding_the_later_review_first_routes_the_events_in_the_order_they_happened(
    db: Database,  # noqa: F811
) -> None:
    [first] = (await routed(db, event("reported", "O1", ZOE))).on("identity-reviews")
    found = event("found", "O1", ZOE, occurred_at=(AT + timedelta(hours=3)).isoformat())
    [later] = (await routed(db, found)).on("identity-reviews")
    out = await decided(db, later.review_id, "S9")  # the found's review, opened first
    # The reported goes out before the found, so the notifier stands it down rather than
    # send "missing" after "found".
    school = [a.policy_rule for a in out.on("alerts-requested") if a.recipient.code == SCHOOL]
    assert school == ["reported.school", "found.school"]
    assert [d.review_id for d in out.on("identity-decisions")] == [first.review_id]
