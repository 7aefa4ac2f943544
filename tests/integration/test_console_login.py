"""Signing in to the console and what each role may open, on the real database
(SQLite, or PostgreSQL with RELAY_TEST_DATABASE_URL) through the real app over HTTPS
(so the Secure cookie is sent): a wrong password, a forged form, an expired session,
an rhi-worker kept to their own authority's tasks, an outcome recorded into the
outbox for ``rhi-task-outcomes``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from schemas.episode import EventType
from schemas.messages import (
    ChildSummaryV1,
    EpisodeRefV1,
    OrgKind,
    RecipientV1,
    RhiTaskRequestedV1,
)
from services.console import handlers, sessions
from services.console.app import create_app
from services.console.tables import sessions as session_table
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.clock import MovableClock
from tests.console_login import PASSWORD, add_users, client_of, csrf_of, sign_in

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def console(
    tmp_path: Any, database_url: Callable[[str], str]
) -> AsyncIterator[tuple[FastAPI, MovableClock]]:
    url = await asyncio.to_thread(database_url, "console")
    await asyncio.to_thread(upgrade, "console", url)
    clock = MovableClock(T0)
    app = create_app(RelaySettings(console_database_url=url, var_dir=tmp_path), clock=clock)
    await add_users(app)
    yield app, clock
    await app.state.runtime.db.dispose()


def _task(task_id: str, la_code: str, ref: str) -> RhiTaskRequestedV1:
    return RhiTaskRequestedV1(
        message_id=f"m-{task_id}",
        task_id=task_id,
        authority=RecipientV1(
            code=la_code,
            kind=OrgKind.LOCAL_AUTHORITY,
            name=f"Council {la_code}",
            email="c@x.example",
        ),
        child=ChildSummaryV1(
            given_name="Tallulah", family_name="Featherstonehaugh", date_of_birth=date(2010, 7, 19)
        ),
        episode=EpisodeRefV1(
            force_code="10",
            episode_ref=ref,
            event_id=f"{ref}-found",
            event_message_id=f"m-{ref}-found",
            event_type=EventType.FOUND,
            occurred_at=T0 - timedelta(hours=80),
        ),
        returned_at=T0 - timedelta(hours=80),
        due_at=T0 - timedelta(hours=8),
        requested_at=T0 - timedelta(hours=80),
    )


async def test_pages_need_a_session_and_wrong_or_forged_sign_ins_get_none(
    console: tuple[FastAPI, MovableClock],
) -> None:
    app, _clock = console
    async with client_of(app) as client:
        page = await client.get("/episodes/10/NB-1")
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=%2Fepisodes%2F10%2FNB-1"
        assert (await client.get("/api/episodes")).status_code == 401

        wrong = await sign_in(client, "chair", "not the password at all")
        unknown = await sign_in(client, "nobody", PASSWORD)
        for refused in (wrong, unknown):
            assert refused.status_code == 401
            assert "The username or password is not right." in refused.text
            assert "relay_session" not in refused.headers.get("set-cookie", "")

        form = await client.get("/login")
        forged = await client.post(
            "/login", data={"username": "chair", "password": PASSWORD, "csrf_token": "forged"}
        )
        assert forged.status_code == 400 and "The sign-in form expired" in forged.text
        assert "relay_session" not in forged.headers.get("set-cookie", "")
        assert form.status_code == 200

        signed = await sign_in(client, "chair", next_path="/episodes/10/NB-1")
        assert signed.status_code == 303 and signed.headers["location"] == "/episodes/10/NB-1"
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie
        token = client.cookies["relay_session"]
        async with app.state.runtime.db.transaction() as session:
            stored = (await session.execute(select(session_table.c.token_digest))).scalars().all()
        assert len(stored) == 1 and token not in stored  # only its digest is kept
        home = await client.get("/")
        assert home.status_code == 200 and "chair (MSET chair)" in home.text

        # An open redirect is refused: after signing in, home, not elsewhere.
        await client.post("/logout", data={"csrf_token": csrf_of(home.text)})
        away = await sign_in(client, "chair", next_path="//evil.example/")
        assert away.headers["location"] == "/"

    # Plain HTTP to a host browsers do not trust: the Secure cookie would be dropped, so
    # the page says why instead of signing in to nothing.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.example") as plain:
        assert "reached over plain HTTP" in (await plain.get("/login")).text
        refused = await sign_in(plain, "chair")
        assert refused.status_code == 400 and "reached over plain HTTP" in refused.text


async def test_repeated_failed_sign_ins_shut_the_account_out_for_a_while(
    console: tuple[FastAPI, MovableClock],
) -> None:
    app, _clock = console
    async with client_of(app) as client:
        for _ in range(10):
            assert (await sign_in(client, "chair", "guess number n")).status_code == 401
        # The right password too is refused now: a guesser learns nothing more.
        shut = await sign_in(client, "chair")
        assert shut.status_code == 429
        assert "Too many failed sign-ins. Try again in 15 minute(s)." in shut.text
        assert 800 < int(shut.headers["Retry-After"]) <= 900
        assert "relay_session" not in shut.headers.get("set-cookie", "")
        # Other accounts are not shut out by one account's failures.
        assert (await sign_in(client, "mash")).status_code == 303


async def test_sessions_end_on_logout_idle_time_and_disabling(
    console: tuple[FastAPI, MovableClock],
) -> None:
    app, clock = console
    async with client_of(app) as client:
        await sign_in(client, "chair")
        home = await client.get("/")
        assert home.status_code == 200
        refused = await client.post("/logout", data={"csrf_token": "forged"})
        assert refused.status_code == 403
        assert (await client.get("/")).status_code == 200  # still signed in
        out = await client.post("/logout", data={"csrf_token": csrf_of(home.text)})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert (await client.get("/")).status_code == 303

        await sign_in(client, "chair")
        clock.advance(timedelta(minutes=59))
        assert (await client.get("/")).status_code == 200  # in use: kept alive
        clock.advance(timedelta(minutes=61))
        assert (await client.get("/")).status_code == 303  # idle over an hour: ended

        await sign_in(client, "chair")
        assert (await client.get("/")).status_code == 200
        async with app.state.runtime.db.transaction() as session:
            assert await sessions.disable_user(session, "chair", clock())
        assert (await client.get("/")).status_code == 303
        assert (await sign_in(client, "chair")).status_code == 401


async def test_each_role_opens_its_own_pages_only(console: tuple[FastAPI, MovableClock]) -> None:
    app, _clock = console
    expected = {
        "chair": {"/": 200, "/rhi": 200, "/reviews": 200, "/dead-letters": 200},
        "rhi-north": {"/": 403, "/rhi": 200, "/reviews": 403, "/dead-letters": 403},
        "mash": {"/": 403, "/rhi": 403, "/reviews": 200, "/dead-letters": 403},
        "admin": {"/": 403, "/rhi": 403, "/reviews": 403, "/dead-letters": 200},
    }
    homes = {"chair": "/", "rhi-north": "/rhi", "mash": "/reviews", "admin": "/dead-letters"}
    for username, pages in expected.items():
        async with client_of(app) as client:
            assert (await sign_in(client, username)).headers["location"] == homes[username]
            got = {path: (await client.get(path)).status_code for path in pages}
            assert got == pages, username
            refused = await client.get("/episodes/10/NB-1")
            if username != "chair":
                assert refused.status_code == 403 and "You cannot open this page" in refused.text


async def test_an_rhi_worker_sees_and_closes_only_their_authority_s_tasks(
    console: tuple[FastAPI, MovableClock],
) -> None:
    app, _clock = console
    for message in (
        _task("t-north", "E06000057", "NB-7"),
        _task("t-south", "E08000021", "NB-8"),
    ):
        async with app.state.runtime.db.transaction() as session:
            await handlers.on_rhi_task_requested(session, message, None)
    async with client_of(app) as client:
        await sign_in(client, "rhi-north")
        queue = await client.get("/rhi")
        assert "10 / NB-7" in queue.text and "NB-8" not in queue.text
        assert "Overdue" in queue.text and "T.F. (born 2010)" in queue.text
        assert "Tallulah" not in queue.text and "Featherstonehaugh" not in queue.text
        other = await client.get("/rhi/t-south")
        assert other.status_code == 403 and "another local authority" in other.text
        assert (await client.post("/rhi/t-south", data={"outcome": "completed"})).status_code == 403

        task = await client.get("/rhi/t-north")
        csrf = csrf_of(task.text)
        no_csrf = await client.post("/rhi/t-north", data={"outcome": "completed"})
        assert no_csrf.status_code == 403
        no_reason = await client.post(
            "/rhi/t-north", data={"outcome": "not-possible", "csrf_token": csrf}
        )
        assert no_reason.status_code == 400
        assert "Say why an interview was not possible." in no_reason.text
        done = await client.post(
            "/rhi/t-north",
            data={"outcome": "not-possible", "reason": "moved out of area", "csrf_token": csrf},
        )
        assert done.status_code == 200 and "Outcome recorded: Not possible" in done.text

    outbox = app.state.runtime.tables.outbox
    async with app.state.runtime.db.transaction() as session:
        rows = (await session.execute(select(outbox.c.topic, outbox.c.key, outbox.c.payload))).all()
    # The record (v2) and, for the readers of v1 (the notifier), its outcome.
    assert [(r.topic, r.key) for r in rows] == [
        ("rhi-task-outcomes.v2", "t-north"),
        ("rhi-task-outcomes.v1", "t-north"),
    ]
    for row in rows:
        payload = json.loads(row.payload)
        assert (payload["outcome"], payload["reason"], payload["recorded_by"]) == (
            "not-possible",
            "moved out of area",
            "rhi-north",
        )
