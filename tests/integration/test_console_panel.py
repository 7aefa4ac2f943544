"""The MSET panel's work in the console (issue 20), on the real database under a moved
clock: a meeting (its form names what is missing), its agenda built from the watchlist,
new high-risk episodes since the last meeting, overdue return home interviews and
actions due; a decision per child with actions (an action without an owner or a due
date: the form says which); the actions go to the notifier on panel-actions.v1 (new,
and again when done); an overdue one shows on the chair's home page; the meeting pack
carries each child's last decision and open actions; every step is audited."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from schemas.episode import EpisodeEventV1, EventType
from schemas.messages import (
    AlertKind,
    AlertRequestedV1,
    ChildSummaryV1,
    EpisodeRefV1,
    OrgKind,
    RecipientV1,
    RhiTaskRequestedV1,
)
from schemas.panel import PanelActionV1
from services.console import handlers
from services.console.app import create_app
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.clock import MovableClock
from tests.console_login import add_users, client_of, csrf_of, sign_in
from tests.integration.test_console_child_identity import link, police

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
MEETING = date(2026, 11, 20)
MIA = {"given_name": "Mia", "family_name": "Rowe", "date_of_birth": "2011-04-05"}
BEN = {"given_name": "Ben", "family_name": "Shaw", "date_of_birth": "2009-09-09"}
AVA = {"given_name": "Ava", "family_name": "Hale", "date_of_birth": "2012-02-02"}
MIA_ID = "11111111-1111-5111-8111-111111111111"
BEN_ID = "22222222-2222-5222-8222-222222222222"
AVA_ID = "33333333-3333-5333-8333-333333333333"
YOT = RecipientV1(code="YOT-1", kind=OrgKind.YOT, name="Youth Justice Service", email="y@x.example")
LA = RecipientV1(
    code="E06000057", kind=OrgKind.LOCAL_AUTHORITY, name="Northumberland", email="l@x.example"
)


def ref(ref: str, at: datetime, event_type: EventType = EventType.REPORTED) -> EpisodeRefV1:
    return EpisodeRefV1(
        force_code="10",
        episode_ref=ref,
        event_id=f"{ref}-{event_type.value}",
        event_message_id=f"m-{ref}",
        event_type=event_type,
        occurred_at=at,
    )


@pytest.fixture
async def console(tmp_path: Any, database_url: Callable[[str], str]) -> AsyncIterator[FastAPI]:
    url = await asyncio.to_thread(database_url, "console")
    await asyncio.to_thread(upgrade, "console", url)
    clock = MovableClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    app = create_app(
        RelaySettings(console_database_url=url, var_dir=tmp_path, topic_prefix="t."), clock=clock
    )
    app.state.clock = clock
    await add_users(app)
    feed: list[tuple[Any, Any]] = []
    for n in range(3):  # Mia: three episodes, the watchlist
        feed += [
            (handlers.on_episode_event, police(f"M{n}", T0 + timedelta(days=n), MIA)),
            (handlers.on_child_identity, link(f"M{n}", MIA_ID, 1)),
        ]
    high = EpisodeEventV1.model_validate(
        {**police("B1", T0 + timedelta(days=10), BEN).model_dump(), "risk": {"grade": "high"}}
    )
    feed += [
        (handlers.on_episode_event, high),
        (handlers.on_child_identity, link("B1", BEN_ID, 1)),
        (handlers.on_episode_event, police("A1", T0, AVA)),
        (handlers.on_child_identity, link("A1", AVA_ID, 1)),
        (
            handlers.on_alert_requested,
            AlertRequestedV1(
                message_id="al-1",
                alert_id="al-1",
                kind=AlertKind.REPORTED,
                recipient=YOT,
                child=ChildSummaryV1(
                    given_name="Mia", family_name="Rowe", date_of_birth=date(2011, 4, 5)
                ),
                episode=ref("M0", T0),
                reason="open YOT case",
                policy_rule="reported.yot",
                requested_at=T0,
                child_id=MIA_ID,
            ),
        ),
        (
            handlers.on_rhi_task_requested,
            RhiTaskRequestedV1(
                message_id="t-1",
                task_id="t-1",
                authority=LA,
                child=ChildSummaryV1(
                    given_name="Ava", family_name="Hale", date_of_birth=date(2012, 2, 2)
                ),
                episode=ref("A1", T0, EventType.RETURNED),
                returned_at=T0,
                due_at=T0 + timedelta(hours=72),
                requested_at=T0,
                child_id=AVA_ID,
            ),
        ),
    ]
    for handler, message in feed:
        async with app.state.runtime.db.transaction() as session:
            await handler(session, message, None)
    yield app
    await app.state.runtime.db.dispose()


async def published(app: FastAPI) -> list[PanelActionV1]:
    outbox = app.state.runtime.tables.outbox
    async with app.state.runtime.db.transaction() as session:
        rows = await session.execute(
            select(outbox.c.payload)
            .where(outbox.c.topic == "t.panel-actions.v1")
            .order_by(outbox.c.id)
        )
        return [PanelActionV1.model_validate(json.loads(p)) for (p,) in rows]


async def test_a_meeting_its_agenda_decisions_actions_and_pack(console: FastAPI) -> None:
    async with client_of(console) as client:
        await sign_in(client, "chair")
        home = await client.get("/panel")
        csrf = csrf_of(home.text)
        assert "Youth Justice Service" in home.text and "Northumberland" in home.text
        missing = await client.post(
            "/panel/meetings", data={"csrf_token": csrf, "held_on": "2026-11-20", "chair": ""}
        )
        assert missing.status_code == 400
        assert 'href="#chair">Enter who chaired the meeting.' in missing.text
        assert 'href="#organisations">Choose the organisations present.' in missing.text
        made = await client.post(
            "/panel/meetings",
            data={
                "csrf_token": csrf,
                "held_on": MEETING.isoformat(),
                "chair": "DI Rachel Moss",
                "organisations": ["YOT-1", "E06000057"],
            },
        )
        assert made.status_code == 303
        meeting_url = made.headers["location"]
        agenda = await client.get(meeting_url)
        assert agenda.status_code == 200
        rows = agenda.text.split('id="agenda"')[1].split("<tbody>")[1].split("<tr>")[1:]
        assert len(rows) == 3
        assert "M.R. (born 2011)" in rows[0] and "On the watchlist" in rows[0]
        assert "B.S. (born 2009)" in rows[1] and "New high-risk" in rows[1]
        assert "A.H. (born 2012)" in rows[2] and "Return home interview overdue" in rows[2]
        assert "Rowe" not in agenda.text  # initials on the agenda

        child_url = f"{meeting_url}/children/{MIA_ID}"
        form = await client.get(child_url)
        csrf = csrf_of(form.text)
        no_owner = await client.post(
            child_url,
            data={
                "csrf_token": csrf,
                "decision": "Strategy meeting; YOT to visit weekly",
                "risk_view": "high",
                "next_review": "2026-12-18",
                "action-1-text": "Home visit and safety plan",
                "action-1-due": "2026-11-27",
                "action-2-text": "Refer to the exploitation hub",
                "action-2-owner": "E06000057",
            },
        )
        assert no_owner.status_code == 400
        assert 'href="#action-1-owner">Action 1: choose the organisation that owns it.' in (
            no_owner.text
        )
        assert 'href="#action-2-due">Action 2: enter the date it is due.' in no_owner.text
        assert "Home visit and safety plan" in no_owner.text  # kept to fix
        assert await published(console) == []
        saved = await client.post(
            child_url,
            data={
                "csrf_token": csrf,
                "decision": "Strategy meeting; YOT to visit weekly",
                "risk_view": "high",
                "next_review": "2026-12-18",
                "action-1-text": "Home visit and safety plan",
                "action-1-owner": "YOT-1",
                "action-1-due": "2026-11-27",
            },
        )
        assert saved.status_code == 200 and 'id="saved"' in saved.text
        [sent] = await published(console)
        assert (sent.owner_code, sent.due_on, sent.state.value, sent.revision) == (
            "YOT-1",
            date(2026, 11, 27),
            "open",
            1,
        )
        assert sent.meeting_on == MEETING and sent.owner_name == "Youth Justice Service"
        assert "Home visit" not in sent.model_dump_json()  # no action text leaves

        # A week later the action is overdue: the chair's home page says so.
        console.state.clock.set(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
        await sign_in(client, "chair")  # the session of a week ago has ended
        stream = await client.get("/")
        assert 'id="overdue-actions"' in stream.text and "Youth Justice Service, due 27 Nov" in (
            stream.text
        )
        pack = await client.get(
            "/meeting-pack", params={"since": "2026-11-01", "until": "2026-11-28"}
        )
        assert "Strategy meeting; YOT to visit weekly" in pack.text
        # The owner by name once the console's names are read (every 30 s), by code before.
        assert re.search(
            r"Home visit and safety plan: (Youth Justice Service|YOT-1), due 27 Nov 2026 "
            r'<strong class="overdue">overdue</strong>',
            pack.text,
        )
        exported = await client.get(
            "/meeting-pack.csv", params={"since": "2026-11-01", "until": "2026-11-28"}
        )
        [row, *_] = [
            r for r in csv.DictReader(io.StringIO(exported.text)) if r["child"] == "Mia Rowe"
        ]
        assert row["panel_decision"] == "Strategy meeting; YOT to visit weekly"
        assert row["panel_risk_view"] == "high"
        assert row["open_actions"] == "Home visit and safety plan (YOT-1, due 2026-11-27)"

        page = await client.get(f"/panel/actions/{sent.action_id}")
        done = await client.post(
            f"/panel/actions/{sent.action_id}/done", data={"csrf_token": csrf_of(page.text)}
        )
        assert done.status_code == 303
        assert [(m.state.value, m.revision) for m in await published(console)] == [
            ("open", 1),
            ("done", 2),
        ]
        assert 'id="overdue-actions"' not in (await client.get("/")).text

    async with client_of(console) as client:
        await sign_in(client, "admin")
        audit = (await client.get("/admin/audit")).text
        for action in (
            "Add panel meeting",
            "View panel meeting",
            "Record panel decision",
            "Complete panel action",
        ):
            assert action in audit
        assert "Mia" not in audit and "Home visit" not in audit
    async with client_of(console) as client:
        await sign_in(client, "rhi-north")
        assert (await client.get("/panel")).status_code == 403


async def test_the_chair_changes_an_action_marks_it_done_and_reopens_it(console: FastAPI) -> None:
    async with client_of(console) as client:
        await sign_in(client, "chair")
        csrf = csrf_of((await client.get("/panel")).text)
        made = await client.post(
            "/panel/meetings",
            data={
                "csrf_token": csrf,
                "held_on": MEETING.isoformat(),
                "chair": "DI Rachel Moss",
                "organisations": ["YOT-1", "E06000057"],
            },
        )
        child_url = f"{made.headers['location']}/children/{MIA_ID}"
        saved = await client.post(
            child_url,
            data={
                "csrf_token": csrf,
                "decision": "Strategy meeting",
                "risk_view": "high",
                "action-1-text": "Home visit and safety plan",
                "action-1-owner": "YOT-1",
                "action-1-due": "2026-11-27",
            },
        )
        assert saved.status_code == 200
        [sent] = await published(console)
        action_url = f"/panel/actions/{sent.action_id}"
        assert f'href="{action_url}">Home visit and safety plan</a>' in saved.text

        page = await client.get(action_url)
        assert page.status_code == 200
        assert ">Home visit and safety plan</textarea>" in page.text
        assert '<option value="YOT-1" selected>' in page.text
        assert 'value="2026-11-27"' in page.text

        # No owner and no due date: the form says which, as when the action was given.
        wrong = await client.post(
            action_url,
            data={"csrf_token": csrf, "action-text": "Home visit within 48 hours"},
        )
        assert wrong.status_code == 400
        assert 'href="#action-owner">Choose the organisation that owns it.' in wrong.text
        assert 'href="#action-due">Enter the date it is due.' in wrong.text
        assert 'href="#action-text"' not in wrong.text
        assert ">Home visit within 48 hours</textarea>" in wrong.text  # kept to fix
        early = await client.post(
            action_url,
            data={
                "csrf_token": csrf,
                "action-text": "",
                "action-owner": "NOBODY",
                "action-due": "2026-11-01",
            },
        )
        assert early.status_code == 400
        assert 'href="#action-text">Say what is to be done.' in early.text
        assert 'href="#action-owner">Choose an organisation from the list.' in early.text
        assert 'href="#action-due">The due date cannot be before the meeting.' in early.text
        assert len(await published(console)) == 1  # nothing changed, nothing sent

        changed = await client.post(
            action_url,
            data={
                "csrf_token": csrf,
                "action-text": "Home visit within 48 hours",
                "action-owner": "E06000057",
                "action-due": "2026-12-04",
            },
        )
        assert changed.status_code == 303
        assert changed.headers["location"] == f"{action_url}?saved=changed"
        shown = await client.get(changed.headers["location"])
        summary = shown.text.split('id="action"')[1].split("</dl>")[0]
        assert "Home visit within 48 hours" in summary and "4 Dec 2026" in summary
        assert "Northumberland" in summary and "Youth Justice" not in summary
        assert 'id="saved"' in shown.text
        latest = (await published(console))[-1]
        assert (latest.owner_code, latest.due_on, latest.state.value, latest.revision) == (
            "E06000057",
            date(2026, 12, 4),
            "open",
            2,
        )
        # The same again changes nothing and sends nothing.
        await client.post(
            action_url,
            data={
                "csrf_token": csrf,
                "action-text": "Home visit within 48 hours",
                "action-owner": "E06000057",
                "action-due": "2026-12-04",
            },
        )
        assert len(await published(console)) == 2

        done = await client.post(f"{action_url}/done", data={"csrf_token": csrf})
        assert done.status_code == 303
        page = await client.get(done.headers["location"])
        assert "The action is marked done." in page.text
        assert 'id="reopen"' in page.text and 'id="mark-done"' not in page.text
        assert ">Done</strong> by chair" in page.text
        reopened = await client.post(f"{action_url}/reopen", data={"csrf_token": csrf})
        page = await client.get(reopened.headers["location"])
        assert "The action is open again" in page.text and 'id="mark-done"' in page.text
        assert [(m.state.value, m.revision) for m in await published(console)] == [
            ("open", 1),
            ("open", 2),
            ("done", 3),
            ("open", 4),
        ]
        pack = await client.get(
            "/meeting-pack", params={"since": "2026-11-01", "until": "2026-11-28"}
        )
        assert re.search(
            r"Home visit within 48 hours: (Northumberland|E06000057), due 4 Dec 2026", pack.text
        )

    async with client_of(console) as client:
        await sign_in(client, "admin")
        audit = (await client.get("/admin/audit")).text
        assert "Change panel action" in audit and "Reopen panel action" in audit
        assert f"{sent.action_id}: text, owner, due date" in audit
        assert "Home visit" not in audit
