"""The signed-in pages that read a child's record, on the real database (SQLite, or
PostgreSQL with RELAY_TEST_DATABASE_URL), messages fed straight to the handlers: the
stream's filters and its server-sent events, the child's timeline (episodes, how long
missing, where found and who with, alerts, RHI), who may open it, and the audit of
every view."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from schemas.base import derived_id
from schemas.child_identity import ChildIdentityV1, LinkBasis
from schemas.episode import EpisodeEventV1, EventType
from schemas.messages import ChildSummaryV1, EpisodeRefV1, OrgKind, RecipientV1, RhiTaskRequestedV1
from services.console import handlers
from services.console.app import create_app
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.clock import MovableClock
from tests.console_login import add_users, client_of, sign_in

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIA = {"given_name": "Mia", "family_name": "Rowe", "date_of_birth": "2011-04-05"}
LEO = {"given_name": "Leo", "family_name": "Dunn", "date_of_birth": "2010-01-09"}


def police(
    ref: str, type_: str, at: datetime, child: dict[str, Any], **extra: Any
) -> EpisodeEventV1:
    return EpisodeEventV1.model_validate(
        {
            "message_id": f"m-{ref}-{type_}",
            "event_id": f"{ref}-{type_}",
            "type": type_,
            "occurred_at": at,
            "force_code": "10",
            "episode_ref": ref,
            "child": child,
            "accepted_at": at,
            "source": "test",
            **extra,
        }
    )


def child_id_of(child: dict[str, Any]) -> str:
    """The child's id as the router's person index would give it (one per name here)."""
    return derived_id("test-child", child["given_name"], child["family_name"])


async def linked(session: Any, message: EpisodeEventV1) -> None:
    """An episode event, and the router's link of its episode to the child."""
    await handlers.on_episode_event(session, message, None)
    await handlers.on_child_identity(
        session,
        ChildIdentityV1(
            message_id=ChildIdentityV1.id_for(message.force_code, message.episode_ref, 1),
            child_id=child_id_of(message.child.model_dump()),
            force_code=message.force_code,
            episode_ref=message.episode_ref,
            revision=1,
            basis=LinkBasis.MATCHED,
            at=message.accepted_at,
        ),
        None,
    )


@pytest.fixture
async def console(tmp_path: Any, database_url: Callable[[str], str]) -> AsyncIterator[FastAPI]:
    url = await asyncio.to_thread(database_url, "console")
    await asyncio.to_thread(upgrade, "console", url)
    clock = MovableClock(T0 + timedelta(days=10))
    app = create_app(
        RelaySettings(console_database_url=url, var_dir=tmp_path),
        clock=clock,
        refresh_ms=100,
        sse_lifetime_s=2,
    )
    await add_users(app)
    mia = {**MIA, "responsible_la": "E06000057"}
    leo = {**LEO, "responsible_la": "E08000021"}
    for message in (
        police("NB-1", "reported", T0, mia, risk={"grade": "high", "factors": ["cse"]}),
        police(
            "NB-1",
            "found",
            T0 + timedelta(hours=26),
            mia,
            location={"postcode": "NE1 4XF", "description": "Haymarket bus station"},
            found_with=[{"given_name": "Leo", "family_name": "Dunn"}],
        ),
        police("NB-2", "reported", T0 + timedelta(days=5), mia, risk={"grade": "medium"}),
        police("NB-3", "reported", T0 + timedelta(days=1), leo, risk={"grade": "low"}),
    ):
        async with app.state.runtime.db.transaction() as session:
            await linked(session, message)
    yield app
    await app.state.runtime.db.dispose()


async def test_the_stream_filters_name_bad_values_and_its_events_carry_the_table(
    console: FastAPI,
) -> None:
    async with client_of(console) as client:
        await sign_in(client, "chair")

        async def refs(**params: str) -> list[str]:
            data = (await client.get("/api/episodes", params=params)).json()
            return [e["episode_ref"] for e in data["episodes"]]

        assert await refs() == ["NB-2", "NB-1", "NB-3"]  # by latest event
        assert await refs(grade="high") == ["NB-1"]
        assert await refs(factor="cse") == ["NB-1"]
        assert await refs(la="E08000021") == ["NB-3"]
        assert await refs(event="found") == ["NB-1"]
        assert await refs(since="2026-03-03", until="2026-03-03") == ["NB-1", "NB-3"]
        assert await refs(since="2026-03-04") == ["NB-2"]
        bad = await client.get("/api/episodes", params={"grade": "extreme", "since": "03/03"})
        assert bad.status_code == 400
        assert {p["field"] for p in bad.json()["detail"]} == {"grade", "since"}
        page = await client.get("/", params={"grade": "extreme"})
        assert page.status_code == 200 and "Grade: one of no-apparent-risk" in page.text

        async with client.stream("GET", "/events/stream", params={"grade": "high"}) as events:
            assert events.headers["content-type"].startswith("text/event-stream")
            text = ""
            async for chunk in events.aiter_text():
                text += chunk
                if "event: stream" in text and "</table>" in text:
                    break
        assert "10 / NB-1" in text and "NB-2" not in text


async def test_the_timeline_shows_every_episode_and_every_view_is_audited(
    console: FastAPI,
) -> None:
    key = child_id_of(MIA)
    async with client_of(console) as client:
        await sign_in(client, "chair")
        stream = (await client.get("/")).text
        assert f'href="/children/{key}"' in stream  # each row links to the child
        assert "Rowe" not in stream  # the stream itself names nobody
        page = await client.get(f"/children/{key}")
        assert page.status_code == 200
        text = page.text
        assert "Mia Rowe" in text and "5 Apr 2011" in text
        assert "2 in all, 2 in the last 90 days" in text
        assert "Episode 10 / NB-1" in text and "Episode 10 / NB-2" in text
        assert "1 d 2 h" in text  # reported to found
        assert "Still missing" in text  # NB-2
        assert "Haymarket bus station, NE1 4XF" in text and "with Leo Dunn" in text
        assert "CSE" in text
        assert text.index("NB-2") < text.index("NB-1")  # newest first
        assert (await client.get("/children/nope")).status_code == 404

    async with client_of(console) as client:
        await sign_in(client, "rhi-north")  # Mia's authority
        assert (await client.get(f"/children/{key}")).status_code == 200
        leo = child_id_of(LEO)
        refused = await client.get(f"/children/{leo}")
        assert refused.status_code == 403 and "another local authority" in refused.text

    async with client_of(console) as client:
        await sign_in(client, "mash")
        assert (await client.get(f"/children/{key}")).status_code == 403
        assert (await client.get("/admin/audit")).status_code == 403

    async with client_of(console) as client:
        await sign_in(client, "admin")
        assert (await client.get(f"/children/{key}")).status_code == 403
        audit = (await client.get("/admin/audit")).text
        rows = audit.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
        assert len(rows) == 2  # the chair's view and the RHI worker's; refusals see nothing
        assert "rhi-north" in rows[0] and "chair" in rows[1]
        assert all("View child" in r and key in r for r in rows)
        assert "Mia" not in audit and "Rowe" not in audit


async def test_an_rhi_task_of_the_authority_opens_the_child_s_timeline(console: FastAPI) -> None:
    """A child whose events name no authority is still the authority's when its RHI
    task is theirs."""
    child = {"given_name": "Ava", "family_name": "Hale", "date_of_birth": "2012-02-02"}
    async with console.state.runtime.db.transaction() as session:
        await linked(session, police("NB-9", "returned", T0, child))
        await handlers.on_rhi_task_requested(
            session,
            RhiTaskRequestedV1(
                message_id="m-t9",
                task_id="t9",
                authority=RecipientV1(
                    code="E06000057", kind=OrgKind.LOCAL_AUTHORITY, name="NCC", email="n@x.example"
                ),
                child=ChildSummaryV1(
                    given_name="Ava", family_name="Hale", date_of_birth=date(2012, 2, 2)
                ),
                episode=EpisodeRefV1(
                    force_code="10",
                    episode_ref="NB-9",
                    event_id="NB-9-returned",
                    event_message_id="m-NB-9-returned",
                    event_type=EventType.RETURNED,
                    occurred_at=T0,
                ),
                returned_at=T0,
                due_at=T0 + timedelta(hours=72),
                requested_at=T0,
            ),
            None,
        )
    key = child_id_of(child)
    async with client_of(console) as client:
        await sign_in(client, "rhi-north")
        assert (await client.get(f"/children/{key}")).status_code == 200


async def test_the_watchlist_puts_exploitation_first_then_high_risk(console: FastAPI) -> None:
    ben = {"given_name": "Ben", "family_name": "Shaw", "date_of_birth": "2009-09-09"}
    mia = {**MIA, "responsible_la": "E06000057"}
    for message in (
        police("NB-4", "reported", T0 + timedelta(days=6), mia, risk={"grade": "low"}),
        *(
            police(f"NB-B{n}", "reported", T0 + timedelta(days=n), ben, risk={"grade": "high"})
            for n in range(1, 5)
        ),
        police("NB-0", "reported", T0 - timedelta(days=200), LEO, risk={"grade": "high"}),
    ):
        async with console.state.runtime.db.transaction() as session:
            await linked(session, message)
    async with client_of(console) as client:
        await sign_in(client, "chair")
        page = await client.get("/watchlist")
        assert page.status_code == 200
        rows = page.text.split("<tbody>")[1].split("<tr>")[1:]
        # Mia: 3 episodes, one with CSE; Ben: 4 episodes, high risk; Leo: 2, one too old.
        assert len(rows) == 2
        assert "M.R. (born 2011)" in rows[0] and "CSE" in rows[0] and ">3<" in rows[0]
        assert "B.S. (born 2009)" in rows[1] and ">4<" in rows[1]
        assert "Rowe" not in page.text  # names stay on the (audited) timeline
    async with client_of(console) as client:
        await sign_in(client, "rhi-north")
        assert (await client.get("/watchlist")).status_code == 403


async def test_the_network_links_children_found_together_or_at_the_same_place(
    console: FastAPI,
) -> None:
    zac = {"given_name": "Zac", "family_name": "Bell", "date_of_birth": "2010-10-10"}
    found_at_haymarket = {"postcode": "NE1 4XF", "description": "Haymarket bus station"}
    for message in (
        police("NB-Z", "reported", T0 + timedelta(days=3), zac, risk={"grade": "medium"}),
        police("NB-Z", "found", T0 + timedelta(days=4), zac, location=found_at_haymarket),
        # Named by the police with a child the console has never seen.
        police(
            "NB-3",
            "found",
            T0 + timedelta(days=2),
            LEO,
            found_with=[{"given_name": "Una", "family_name": "Known", "date_of_birth": None}],
        ),
    ):
        async with console.state.runtime.db.transaction() as session:
            await linked(session, message)
    async with client_of(console) as client:
        await sign_in(client, "chair")
        page = await client.get("/network", params={"since": "2026-03-01", "until": "2026-03-31"})
        assert page.status_code == 200
        rows = {r.split("</td>")[0]: r for r in page.text.split("<tbody>")[1].split("<tr>")[1:]}
        mia_leo = next(r for r in rows.values() if "Mia Rowe" in r and "Leo Dunn" in r)
        assert "<td>1</td>\n      <td>0</td>" in mia_leo  # together once
        assert "Haymarket bus station, NE1 4XF" in mia_leo and "10 / NB-1" in mia_leo
        mia_zac = next(r for r in rows.values() if "Mia Rowe" in r and "Zac Bell" in r)
        assert "<td>0</td>\n      <td>1</td>" in mia_zac  # the same place, another day
        assert any("Una Known (not known here)" in r for r in rows.values())
        assert "<svg" in page.text and page.text.count("<circle") == 4
        assert (await client.get("/network", params={"since": "2026-05-01"})).status_code == 200
    async with client_of(console) as client:
        await sign_in(client, "rhi-north")
        assert (await client.get("/network")).status_code == 403
    async with client_of(console) as client:
        await sign_in(client, "admin")
        assert "View network" in (await client.get("/admin/audit")).text


async def test_the_meeting_pack_prints_and_exports_the_watchlist_and_is_audited(
    console: FastAPI,
) -> None:
    mia = {**MIA, "responsible_la": "E06000057"}
    formula = {"given_name": "=HYPERLINK(1)", "family_name": "Test", "date_of_birth": "2012-12-12"}
    for message in (
        police("NB-4", "reported", T0 + timedelta(days=6), mia, risk={"grade": "low"}),
        *(
            police(f"NB-F{n}", "reported", T0 + timedelta(days=n), formula, risk={"grade": "low"})
            for n in range(1, 4)
        ),
    ):
        async with console.state.runtime.db.transaction() as session:
            await linked(session, message)
    window = {"since": "2026-03-01", "until": "2026-03-31"}
    async with client_of(console) as client:
        await sign_in(client, "chair")
        page = await client.get("/meeting-pack", params=window)
        assert page.status_code == 200
        text = page.text
        assert "Mia Rowe" in text and "5 Apr 2011" in text
        assert "Linked with:</strong> Leo Dunn (1 together" in text
        assert "1 d 2 h" in text and "Still missing" in text
        assert text.index("Mia Rowe") < text.index("=HYPERLINK(1) Test")  # exploitation first

        exported = await client.get("/meeting-pack.csv", params=window)
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        assert (
            'filename="meeting-pack-2026-03-01-2026-03-31.csv"'
            in (exported.headers["content-disposition"])
        )
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        mia_rows = [r for r in rows if r["child"] == "Mia Rowe"]
        assert {r["episode"] for r in mia_rows} == {"10/NB-1", "10/NB-2", "10/NB-4"}
        assert all(r["linked_with"].startswith("Leo Dunn (1 together") for r in mia_rows)
        assert {r["child"] for r in rows} == {"Mia Rowe", "'=HYPERLINK(1) Test"}  # not a formula

    async with client_of(console) as client:
        await sign_in(client, "admin")
        audit = (await client.get("/admin/audit")).text
        assert "View meeting pack" in audit and "Export meeting pack" in audit
        assert "2026-03-01..2026-03-31" in audit
