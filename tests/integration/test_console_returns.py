"""Issue 21 in the console, on the real database (SQLite, or PostgreSQL with
RELAY_TEST_DATABASE_URL) through the real app over HTTPS: an RHI worker records the
interview (record and outcome go to the outbox; bad input names the field); the
restricted parts are shown to the child's authority and the MSET chair only; a record
made with ``relay tasks complete`` arrives on ``rhi-task-outcomes.v2``; compliance
counts the interview's time; the figures page and its CSV (audited); the read model's
queries for the figures and the SSDA903 table; the migration leaves the tables as the
models say."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from schemas.base import derived_id
from schemas.episode import EpisodeEventV1
from schemas.messages import (
    AlertKind,
    AlertRequestedV1,
    ChildSummaryV1,
    EpisodeRefV1,
    IdentityCandidateV1,
    IdentityDecisionV1,
    IdentityReviewV1,
    OrgKind,
    RecipientV1,
    RhiTaskRequestedV1,
    RhiTaskState,
    RhiTaskStatusV1,
)
from schemas.rhi_record import RhiTaskOutcomeV2
from services.console import handlers, returns_queries, rhi_records
from services.console.accounts import Role
from services.console.app import create_app
from services.console.tables import audit, metadata
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.clock import MovableClock
from tests.console_login import add_user, add_users, client_of, csrf_of, sign_in
from tests.schema import schema_drift

NLD, NCL = "E06000057", "E08000021"
# Now: Thursday 26 November 2026, noon. The child came home on Monday at 18:00.
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
RETURNED = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


@pytest.fixture
async def console(
    tmp_path: Any, database_url: Callable[[str], str]
) -> AsyncIterator[tuple[FastAPI, MovableClock]]:
    url = await asyncio.to_thread(database_url, "console")
    await asyncio.to_thread(upgrade, "console", url)
    clock = MovableClock(NOW)
    app = create_app(RelaySettings(console_database_url=url, var_dir=tmp_path), clock=clock)
    await add_users(app)
    await add_user(app, "rhi-newcastle", Role.RHI_WORKER, NCL)
    yield app, clock
    await app.state.runtime.db.dispose()


def la(code: str) -> RecipientV1:
    return RecipientV1(
        code=code, kind=OrgKind.LOCAL_AUTHORITY, name=f"Council {code}", email="c@x.example"
    )


def episode_event(
    ref: str,
    type_: str,
    at: datetime,
    *,
    child: tuple[str, str, str] = ("Mia", "Khan", "2012-01-02"),
    looked_after: bool = False,
) -> EpisodeEventV1:
    given, family, born = child
    return EpisodeEventV1.model_validate(
        {
            "message_id": str(uuid.uuid4()),
            "event_id": f"{ref}-{type_}",
            "type": type_,
            "occurred_at": at.isoformat(),
            "force_code": "10",
            "episode_ref": ref,
            "child": {
                "given_name": given,
                "family_name": family,
                "date_of_birth": born,
                "looked_after": looked_after,
            },
            "risk": {"grade": "medium"} if type_ == "reported" else None,
            "reason": "raised in error" if type_ == "withdrawn" else None,
            "accepted_at": at.isoformat(),
            "source": "test",
        }
    )


def ref_of(event: EpisodeEventV1) -> EpisodeRefV1:
    return EpisodeRefV1(
        force_code=event.force_code,
        episode_ref=event.episode_ref,
        event_id=event.event_id,
        event_message_id=event.message_id,
        event_type=event.type,
        occurred_at=event.occurred_at,
    )


def child_of(event: EpisodeEventV1) -> ChildSummaryV1:
    c = event.child
    return ChildSummaryV1(
        given_name=c.given_name, family_name=c.family_name, date_of_birth=c.date_of_birth
    )


def child_id_of(event: EpisodeEventV1) -> str:
    """The child's id as the router's person index gives it (issue 20): one per child
    here, carried on every alert and task."""
    c = event.child
    return derived_id("test-child", c.given_name, c.family_name, c.date_of_birth.isoformat())


def alert(
    event: EpisodeEventV1,
    to: RecipientV1,
    authority: str,
    rule: str,
    record: str | None = None,
) -> AlertRequestedV1:
    alert_id = str(uuid.uuid4())
    return AlertRequestedV1(
        message_id=alert_id,
        alert_id=alert_id,
        kind=AlertKind(event.type.value),
        recipient=to,
        child=child_of(event),
        episode=ref_of(event),
        reason="test",
        policy_rule=rule,
        roll_record_id=record,
        requested_at=event.occurred_at,
        authority=la(authority),
        child_id=child_id_of(event),
    )


def task(event: EpisodeEventV1, task_id: str, authority: str = NLD) -> RhiTaskRequestedV1:
    return RhiTaskRequestedV1(
        message_id=task_id,
        task_id=task_id,
        authority=la(authority),
        child=child_of(event),
        episode=ref_of(event),
        returned_at=event.occurred_at,
        due_at=event.occurred_at + timedelta(hours=72),
        requested_at=event.occurred_at,
        child_id=child_id_of(event),
    )


async def feed(app: FastAPI, handler: Any, *messages: Any) -> None:
    for message in messages:
        async with app.state.runtime.db.transaction() as session:
            await handler(session, message, None)


async def a_returned_child(app: FastAPI, ref: str = "NB-1", authority: str = NLD) -> str:
    back = episode_event(ref, "returned", RETURNED)
    await feed(app, handlers.on_episode_event, back)
    await feed(app, handlers.on_rhi_task_requested, task(back, f"t-{ref}", authority))
    return f"t-{ref}"


FULL = {
    "outcome": "completed",
    "offered_at": "2026-11-24T09:00",
    "offer_method": "phone",
    "interviewed_at": "2026-11-26T11:30",  # 65.5 hours after the return
    "interviewer_name": "Sam Okafor",
    "interviewer_organisation": "Barnardo's",
    "interviewer_independent": "yes",
    "whereabouts": "A flat above the bookmaker's on Front Street",
    "with_whom": "Two older boys",
    "push_factors": ["family-conflict", "bullying"],
    "pull_factors": "someone-exploiting-them",
    "harm_disclosed": "yes",
    "harm_kinds": "criminal-exploitation",
    "child_words": "They said I could earn money.",
    "referrals": ["exploitation-team", "camhs"],
    "shared_with_police": "yes",
}


async def test_an_rhi_worker_records_the_interview_and_only_the_right_people_see_it(
    console: tuple[FastAPI, MovableClock],
) -> None:
    app, _clock = console
    task_id = await a_returned_child(app)
    async with client_of(app) as client:
        await sign_in(client, "rhi-north")
        page = await client.get(f"/rhi/{task_id}")
        assert "When the interview took place" in page.text and "Family conflict" in page.text
        done = await client.post(f"/rhi/{task_id}", data={**FULL, "csrf_token": csrf_of(page.text)})
        assert done.status_code == 200 and "Outcome recorded: Completed" in done.text
        shown = await client.get(f"/rhi/{task_id}")
        assert "They said I could earn money." in shown.text
        assert "A flat above the bookmaker" in shown.text and "Criminal exploitation" in shown.text
        assert "Sam Okafor, Barnardo" in shown.text
        # Recorded, not yet closed by the notifier: no second record.
        assert "Record the interview" not in shown.text
        again = await client.post(
            f"/rhi/{task_id}", data={**FULL, "csrf_token": csrf_of(page.text)}
        )
        assert again.status_code == 409 and "already recorded" in again.text

    outbox = app.state.runtime.tables.outbox
    async with app.state.runtime.db.transaction() as session:
        rows = (await session.execute(select(outbox.c.topic, outbox.c.payload))).all()
        kept = await rhi_records.of_task(session, task_id)
    assert [r.topic for r in rows] == ["rhi-task-outcomes.v2", "rhi-task-outcomes.v1"]
    record = RhiTaskOutcomeV2.model_validate_json(rows[0].payload)
    assert record.interviewed_at == datetime(2026, 11, 26, 11, 30, tzinfo=UTC)
    assert record.referrals[0].value == "exploitation-team" and record.harm_disclosed is True
    v1 = json.loads(rows[1].payload)
    assert set(v1) == {"message_id", "task_id", "outcome", "reason", "recorded_by", "recorded_at"}
    assert kept is not None and kept["interviewer_name"] == "Sam Okafor"

    # The MSET chair sees it all; another authority's worker, and the MASH, nothing.
    async with client_of(app) as client:
        await sign_in(client, "chair")
        assert "They said I could earn money." in (await client.get(f"/rhi/{task_id}")).text
    for username, status in (("rhi-newcastle", 403), ("mash", 403), ("admin", 403)):
        async with client_of(app) as client:
            await sign_in(client, username)
            refused = await client.get(f"/rhi/{task_id}")
            assert refused.status_code == status and "earn money" not in refused.text


@pytest.mark.parametrize(
    ("changes", "named", "words"),
    [
        ({"interviewed_at": "2026-11-23T17:00", "offered_at": ""}, "interviewed_at", "return"),
        ({"interviewed_at": "2026-11-26T12:30"}, "interviewed_at", "in the future"),
        (
            {"outcome": "declined", "interviewed_at": "", "interviewer_name": ""},
            "reason",
            "Say why the interview was declined.",
        ),
        ({"pull_factors": "gangs"}, "pull_factors", "not in the policy"),
    ],
)
async def test_bad_input_is_refused_naming_the_field_and_nothing_is_sent(
    console: tuple[FastAPI, MovableClock], changes: dict[str, str], named: str, words: str
) -> None:
    app, _clock = console
    task_id = await a_returned_child(app)
    async with client_of(app) as client:
        await sign_in(client, "rhi-north")
        page = await client.get(f"/rhi/{task_id}")
        refused = await client.post(
            f"/rhi/{task_id}", data={**FULL, **changes, "csrf_token": csrf_of(page.text)}
        )
    assert refused.status_code == 400
    assert f'href="#{named}"' in refused.text and words in refused.text
    assert f'id="{named}-error"' in refused.text
    assert "Sam Okafor" in refused.text or changes.get("interviewer_name") == ""  # kept
    async with app.state.runtime.db.transaction() as session:
        outbox = app.state.runtime.tables.outbox
        assert (await session.execute(select(outbox))).all() == []


async def test_a_record_from_the_command_line_arrives_and_the_first_recorded_stands(
    console: tuple[FastAPI, MovableClock],
) -> None:
    app, _clock = console
    task_id = await a_returned_child(app)

    def record(minutes: int, words: str) -> RhiTaskOutcomeV2:
        return RhiTaskOutcomeV2.model_validate(
            {
                "message_id": str(uuid.uuid4()),
                "task_id": task_id,
                "outcome": "completed",
                "recorded_by": "cli",
                "recorded_at": NOW - timedelta(minutes=minutes),
                "interviewed_at": RETURNED + timedelta(hours=20),
                "interviewer": {"name": "A. Worker", "independent": True},
                "child_words": words,
            }
        )

    later, first = record(5, "the second"), record(50, "the first")
    await feed(app, handlers.on_rhi_task_outcome, later, first, later)
    async with app.state.runtime.db.transaction() as session:
        kept = await rhi_records.of_task(session, task_id)
    assert kept is not None and kept["child_words"] == "the first"


async def test_compliance_counts_when_the_interview_took_place(
    console: tuple[FastAPI, MovableClock],
) -> None:
    app, clock = console
    task_id = await a_returned_child(app)
    # Interviewed at 70 hours; typed up, and closed by the notifier, at 80.
    record = RhiTaskOutcomeV2.model_validate(
        {
            "message_id": "m-late-typed",
            "task_id": task_id,
            "outcome": "completed",
            "recorded_by": "rhi-north",
            "recorded_at": RETURNED + timedelta(hours=80),
            "offer": {
                "offered_at": RETURNED + timedelta(hours=2),
                "method": "in-person",
                "accepted": True,
            },
            "interviewed_at": RETURNED + timedelta(hours=70),
            "interviewer": {"name": "A. Worker", "independent": True},
        }
    )
    await feed(app, handlers.on_rhi_task_outcome, record)
    await feed(
        app,
        handlers.on_rhi_task_status,
        RhiTaskStatusV1(
            message_id="s-1",
            task_id=task_id,
            state=RhiTaskState.COMPLETED,
            authority_code=NLD,
            force_code="10",
            episode_ref="NB-1",
            due_at=RETURNED + timedelta(hours=72),
            at=RETURNED + timedelta(hours=80),
        ),
    )
    clock.set(RETURNED + timedelta(hours=90))
    async with client_of(app) as client:
        await sign_in(client, "rhi-north")
        page = await client.get("/compliance")
    row = page.text.split('id="compliance"')[1].split("</tr>")[1]
    # Due 1, in time 1, late 0 ... share 100%, offered in time 1, 100%.
    assert "<td>1</td><td>1</td><td>0</td>" in row and row.count("100%") == 2


async def _a_year_of_episodes(app: FastAPI) -> None:
    """Two children of Northumberland, one looked after and placed in Newcastle, and a
    child of Newcastle; a withdrawn episode; tasks and records."""
    mia, leo, zac = (
        ("Mia", "Khan", "2012-01-02"),
        ("Leo", "Hart", "2010-03-04"),
        ("Zac", "Ng", "2011-05-06"),
    )
    jan, feb = datetime(2026, 1, 10, 9, tzinfo=UTC), datetime(2026, 2, 10, 9, tzinfo=UTC)
    for ref, at, child, looked, authority in (
        ("M1", jan, mia, False, NLD),
        ("M2", jan + timedelta(days=3), mia, False, NLD),
        ("M3", feb, mia, False, NLD),
        ("L1", jan, leo, True, NLD),
        ("L2", feb, leo, True, NLD),
        ("Z1", feb, zac, False, NCL),
        ("W1", feb, mia, False, NLD),  # withdrawn below
    ):
        reported = episode_event(ref, "reported", at, child=child, looked_after=looked)
        back = episode_event(
            ref, "returned", at + timedelta(hours=10), child=child, looked_after=looked
        )
        await feed(app, handlers.on_episode_event, reported, back)
        record = "LAC-LEO" if child is leo else None
        await feed(
            app,
            handlers.on_alert_requested,
            alert(reported, la(authority), authority, "reported.la", record),
            alert(back, la(authority), authority, "returned.la", record),
        )
        if looked:
            await feed(
                app,
                handlers.on_alert_requested,
                alert(reported, la(NCL), authority, "reported.la-resident"),
            )
        await feed(app, handlers.on_rhi_task_requested, task(back, f"t-{ref}", authority))
    withdrawn = episode_event("W1", "withdrawn", feb + timedelta(hours=12), child=mia)
    await feed(app, handlers.on_episode_event, withdrawn)
    await feed(
        app,
        handlers.on_rhi_task_status,
        RhiTaskStatusV1(
            message_id="s-w1",
            task_id="t-W1",
            state=RhiTaskState.WITHDRAWN,
            authority_code=NLD,
            force_code="10",
            episode_ref="W1",
            due_at=feb + timedelta(hours=82),
            at=feb + timedelta(hours=12),
        ),
    )
    await feed(
        app,
        handlers.on_rhi_task_outcome,
        RhiTaskOutcomeV2.model_validate(
            {
                "message_id": "r-L1",
                "task_id": "t-L1",
                "outcome": "completed",
                "recorded_by": "x",
                "recorded_at": jan + timedelta(days=9),
                "offer": {
                    "offered_at": jan + timedelta(hours=12),
                    "method": "phone",
                    "accepted": True,
                },
                "interviewed_at": jan + timedelta(hours=40),
                "interviewer": {"name": "A. Worker", "independent": True},
            }
        ),
    )


async def test_the_read_model_gives_the_figures_and_the_missing_table(
    console: tuple[FastAPI, MovableClock],
) -> None:
    app, _clock = console
    await _a_year_of_episodes(app)
    assert await schema_drift(app.state.runtime.db, metadata) == []
    async with app.state.runtime.db.transaction() as session:
        f = await returns_queries.returns_figures(session, NLD, date(2026, 1, 1), date(2026, 2, 28))
        assert await returns_queries.known_authority(session, NCL)
        assert not await returns_queries.known_authority(session, "E06000001")
        missing = await returns_queries.missing_episodes(session, NLD, date(2026, 2, 28))
    jan, feb = f.months
    assert (jan.episodes, jan.children, feb.episodes, feb.children) == (3, 2, 2, 2)
    assert (f.total.episodes, f.total.children) == (5, 2)  # W1 withdrawn, Z1 Newcastle's
    assert f.total.episodes_per_child == {"1": 0, "2": 1, "3": 1, "4": 0, "5-9": 0, "10+": 0}
    assert (jan.looked_after_episodes, jan.placed_out_children, f.total.placed_out_children) == (
        1,
        1,
        1,
    )
    assert (f.total.rhi.due, f.total.rhi.completed_within_72h, f.total.rhi.offered_within_72h) == (
        5,
        1,
        1,
    )
    assert (f.total.rhi_looked_after.due, f.total.rhi_placed_out.completed) == (2, 1)
    by_ref = {m.episode_ref: m for m in missing}
    assert set(by_ref) == {"L1", "L2"}  # looked after only
    assert by_ref["L1"].roll_records == frozenset({"LAC-LEO"})
    assert by_ref["L1"].ended_at == datetime(2026, 1, 10, 19, tzinfo=UTC)


async def test_a_person_s_decision_on_the_authority_s_roll_counts_as_its_record(
    console: tuple[FastAPI, MovableClock],
) -> None:
    app, _clock = console
    jan = datetime(2026, 1, 10, 9, tzinfo=UTC)
    reported = episode_event("R1", "reported", jan, looked_after=True)
    await feed(app, handlers.on_episode_event, reported)
    await feed(app, handlers.on_alert_requested, alert(reported, la(NLD), NLD, "reported.la"))
    review = IdentityReviewV1(
        message_id="rev-1",
        review_id="rev-1",
        episode=ref_of(reported),
        child=child_of(reported),
        candidates=[
            IdentityCandidateV1(org_code=NLD, roll_record_id="LAC-A", score=0.7),
            IdentityCandidateV1(org_code=NLD, roll_record_id="LAC-B", score=0.6),
        ],
        requested_at=jan,
    )
    await feed(app, handlers.on_identity_review, review)
    async with app.state.runtime.db.transaction() as session:
        [undecided] = await returns_queries.missing_episodes(session, NLD, date(2026, 3, 31))
    assert undecided.roll_records == frozenset()  # a candidate is not a record
    await feed(
        app,
        handlers.on_identity_decision,
        IdentityDecisionV1(
            message_id="dec-1",
            review_id="rev-1",
            decision="match",
            roll_record_id="LAC-B",
            decided_by="mash",
            decided_at=jan + timedelta(hours=1),
        ),
    )
    async with app.state.runtime.db.transaction() as session:
        [decided] = await returns_queries.missing_episodes(session, NLD, date(2026, 3, 31))
    assert decided.roll_records == frozenset({"LAC-B"})


async def test_the_figures_page_its_csv_and_who_may_open_them(
    console: tuple[FastAPI, MovableClock],
) -> None:
    app, _clock = console
    await _a_year_of_episodes(app)
    async with client_of(app) as client:
        await sign_in(client, "chair")
        page = await client.get("/returns?la=E06000057&from=2026-01-01&to=2026-02-28")
        assert page.status_code == 200
        assert page.text.count("<svg") == 4 and "Council E08000021 (E08000021)" in page.text
        assert "Mia" not in page.text and "Khan" not in page.text  # counts, never names
        # Children by their number of episodes, month by month (Mia twice in January).
        per_child = page.text.split('id="episodes-per-child"')[1].split("</table>")[0]
        cells = "</td><td>".join
        assert f'<th scope="row">2026-01</th><td>{cells("110000")}</td>' in per_child
        assert f'<th scope="row">2026-02</th><td>{cells("200000")}</td>' in per_child
        assert f'<th scope="row">Whole period</th><td>{cells("011000")}</td>' in per_child
        exported = await client.get("/returns.csv?la=E06000057&from=2026-01-01&to=2026-02-28")
        assert exported.status_code == 200
        assert "attachment" in exported.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [r["month"] for r in rows] == ["2026-01", "2026-02", "total"]
        assert rows[-1]["episodes"] == "5" and rows[-1]["rhi_completed_within_72h"] == "1"
        bad = await client.get("/returns?la=E06000057&from=2026-03-01&to=2026-02-28")
        assert bad.status_code == 400 and "From: on or before to." in bad.text
        assert (await client.get("/returns?la=X1&from=2026-01-01")).status_code == 400
    async with client_of(app) as client:
        await sign_in(client, "rhi-newcastle")
        own = await client.get("/returns?la=E06000057&from=2026-01-01&to=2026-02-28")
        assert own.status_code == 200 and ": E08000021</h1>" in own.text  # their own, always
    async with client_of(app) as client:
        await sign_in(client, "mash")
        assert (await client.get("/returns")).status_code == 403
    async with app.state.runtime.db.transaction() as session:
        actions = [(r.username, r.action, r.subject) for r in await session.execute(select(audit))]
    assert ("chair", "returns-export", "E06000057 2026-01-01..2026-02-28") in actions
