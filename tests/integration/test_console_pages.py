"""The console's pages over its read model on the real database (SQLite, or PostgreSQL
with RELAY_TEST_DATABASE_URL), messages fed straight to the handlers: out-of-order
arrival, redelivered statuses, pagination and 404s. No broker needed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from schemas.episode import EpisodeEventV1, EventType
from schemas.messages import (
    AlertKind,
    AlertRequestedV1,
    AlertState,
    AlertStatusV1,
    ChildSummaryV1,
    EpisodeRefV1,
    OrgKind,
    RecipientV1,
)
from services.console import handlers
from services.console.accounts import Role
from services.console.app import create_app
from services.console.state import of_app
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.console_login import add_user, sign_in

T0 = datetime(2025, 3, 1, 22, 0, tzinfo=UTC)


def event(ref: str, at: datetime, type_: str = "reported") -> EpisodeEventV1:
    return EpisodeEventV1.model_validate(
        {
            "message_id": f"m-{ref}-{type_}",
            "event_id": f"{ref}-{type_}",
            "type": type_,
            "occurred_at": at,
            "force_code": "10",
            "episode_ref": ref,
            "child": {
                "given_name": "Jordan",
                "family_name": "Smithson",
                "date_of_birth": "2011-05-02",
            },
            "risk": {"grade": "high"} if type_ == "reported" else None,
            "accepted_at": at,
            "source": "test",
        }
    )


def requested(ref: str, alert_id: str) -> AlertRequestedV1:
    return AlertRequestedV1(
        message_id=alert_id,
        alert_id=alert_id,
        kind=AlertKind.REPORTED,
        recipient=RecipientV1(
            code="100001",
            kind=OrgKind.SCHOOL,
            name="Hillside Academy",
            email="dsl@hillside.example",
        ),
        child=ChildSummaryV1(
            given_name="Jordan", family_name="Smithson", date_of_birth=date(2011, 5, 2)
        ),
        episode=EpisodeRefV1(
            force_code="10",
            episode_ref=ref,
            event_id=f"{ref}-reported",
            event_message_id=f"m-{ref}-reported",
            event_type=EventType.REPORTED,
            occurred_at=T0,
        ),
        reason="on roll",
        policy_rule="reported.school",
        requested_at=T0,
    )


def status(ref: str, alert_id: str, state: AlertState, at: datetime) -> AlertStatusV1:
    return AlertStatusV1(
        message_id=f"{alert_id}-{state.value}",
        alert_id=alert_id,
        state=state,
        kind=AlertKind.REPORTED,
        recipient_code="100001",
        recipient_kind=OrgKind.SCHOOL,
        force_code="10",
        episode_ref=ref,
        event_message_id=f"m-{ref}-reported",
        at=at,
    )


@pytest.fixture
async def console(tmp_path: Any, database_url: Callable[[str], str]) -> AsyncIterator[FastAPI]:
    url = await asyncio.to_thread(database_url, "console")
    await asyncio.to_thread(upgrade, "console", url)
    app = create_app(RelaySettings(console_database_url=url, var_dir=tmp_path), page_size=2)
    yield app
    await app.state.runtime.db.dispose()


async def feed(app: FastAPI, handler: Any, message: Any) -> None:
    async with app.state.runtime.db.transaction() as session:
        await handler(session, message, None)


async def test_out_of_order_messages_converge_and_pages_show_them(console: FastAPI) -> None:
    # The status overtakes the request, which overtakes the episode event.
    await feed(
        console,
        handlers.on_alert_status,
        status("NB-1", "a1", AlertState.SENT, T0 + timedelta(minutes=2)),
    )
    await feed(console, handlers.on_alert_requested, requested("NB-1", "a1"))
    await feed(
        console,
        handlers.on_alert_status,
        status("NB-1", "a1", AlertState.QUEUED, T0 + timedelta(minutes=1)),
    )
    await feed(console, handlers.on_episode_event, event("NB-1", T0))
    for i in range(2, 5):
        await feed(console, handlers.on_episode_event, event(f"NB-{i}", T0 - timedelta(days=i)))

    await add_user(console, "chair", Role.MSET_CHAIR)
    transport = httpx.ASGITransport(app=console)
    async with httpx.AsyncClient(transport=transport, base_url="https://console") as client:
        assert (await sign_in(client, "chair")).status_code == 303
        data = (await client.get("/api/episodes", params={"limit": 10})).json()
        assert [e["episode_ref"] for e in data["episodes"]] == ["NB-1", "NB-2", "NB-3", "NB-4"]
        first = data["episodes"][0]
        assert first["child"] == {"initials": "J.S.", "birth_year": 2011}
        assert first["risk_grade"] == "high"
        assert [(a["recipient"]["name"], a["state"]) for a in first["alerts"]] == [
            ("Hillside Academy", "sent")
        ]

        page1 = await client.get("/")
        page2 = await client.get("/", params={"page": 2})
        assert page1.status_code == 200 and "NB-1" in page1.text and "NB-3" not in page1.text
        assert "NB-3" in page2.text and 'rel="prev"' in page2.text
        assert "Hillside Academy" in page1.text and "Sent" in page1.text
        assert "J.S. (born 2011)" in page1.text

        detail = await client.get("/episodes/10/NB-1")
        alert = await client.get("/alerts/a1")
        assert detail.status_code == 200 and "Hillside Academy" in detail.text
        assert alert.status_code == 200 and "10 / NB-1" in alert.text
        assert "later release" in alert.text
        assert alert.text.index("Queued") < alert.text.rindex("Sent")  # history in time order

        for page in (page1, page2, detail, alert, await client.get("/fragments/stream")):
            assert "Jordan" not in page.text and "Smithson" not in page.text
            assert "2011-05-02" not in page.text

        assert (await client.get("/alerts/nope")).status_code == 404
        assert (await client.get("/episodes/10/nope")).status_code == 404
        assert (await client.get("/static/console.css")).status_code == 200


async def test_an_unknown_address_answers_the_html_not_found_page(console: FastAPI) -> None:
    await add_user(console, "rhi", Role.RHI_WORKER, la_code="E06000057")
    transport = httpx.ASGITransport(app=console)
    async with httpx.AsyncClient(transport=transport, base_url="https://console") as client:
        anonymous = await client.get("/no/such/page")
        assert anonymous.status_code == 404
        assert anonymous.headers["content-type"].startswith("text/html")
        assert "<h1>Page not found</h1>" in anonymous.text and 'href="/login"' in anonymous.text

        assert (await sign_in(client, "rhi")).status_code == 303
        known = await client.get("/no/such/page")
        assert known.status_code == 404 and "Page not found" in known.text
        assert "Sign out" in known.text and 'href="/rhi">Back to the start' in known.text
        # The JSON API keeps answering JSON.
        api = await client.get("/api/no-such-thing")
        assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
        assert (await client.get("/static/no-such.css")).status_code == 404


async def test_organisations_are_named_not_coded(console: FastAPI) -> None:
    authority = requested("NB-9", "a9").model_copy(
        update={
            "recipient": RecipientV1(
                code="E06000057",
                kind=OrgKind.LOCAL_AUTHORITY,
                name="Northumberland County Council",
                email="missing@northumberland.example",
            )
        }
    )
    await feed(console, handlers.on_alert_requested, authority)
    names = of_app(console).templates.env.globals["organisation"]
    assert names("E06000057") == "E06000057"  # not read yet: the code, never nothing
    async with console.state.runtime.db.transaction() as session:
        await names.read(session)
    assert names("E06000057") == "Northumberland County Council"

    await add_user(console, "rhi", Role.RHI_WORKER, la_code="E06000057")
    transport = httpx.ASGITransport(app=console)
    async with httpx.AsyncClient(transport=transport, base_url="https://console") as client:
        await sign_in(client, "rhi")
        page = await client.get("/rhi")
    assert "rhi (RHI worker, Northumberland County Council)" in page.text
    assert "Tasks of Northumberland County Council" in page.text
    assert "E06000057" not in page.text
