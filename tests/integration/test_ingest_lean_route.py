"""``POST /v1/episode-events`` is answered before FastAPI's router
(services/ingest/lean_route.py, issue 18): every answer is the one FastAPI's own route
gives, an unexpected error is a 500 raised again as Starlette does, and the OpenAPI
document still lists the endpoint."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from services.ingest import api
from services.runtime.settings import RelaySettings
from tests.integration.test_ingest_api import add_key, event, running

PATH = "/v1/episode-events"


def through_fastapi(app: FastAPI) -> Any:
    """The same app with the lean path stepped over: FastAPI's middleware and router."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        await FastAPI.__call__(app, scope, receive, send)

    return asgi


def answer(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    headers = {
        name: value
        for name, value in response.headers.items()
        if name in ("content-type", "www-authenticate", "retry-after", "connection")
    }
    return response.status_code, response.json(), headers


async def test_the_lean_path_answers_as_fastapis_route(settings: RelaySettings) -> None:
    async with (
        running(settings) as r,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=through_fastapi(r.app)), base_url="http://t"
        ) as slow,
    ):
        lean = r.client
        other_force, _ = await add_key(r.app, "01", "another force")
        big = {**event(), "police_contact": {"name": "x" * 70_000}}
        cases: list[dict[str, Any]] = [
            {},  # no key
            {"headers": {"Authorization": "Basic abc"}},
            {"headers": {"Authorization": "Bearer "}},
            {"headers": r.auth("mer_10_" + "x" * 32)},  # unknown
            {"headers": r.auth(), "content": b"{not json"},
            {"headers": r.auth(), "json": [1, 2]},
            {"headers": r.auth(), "json": event(child={"given_name": "Amy"})},
            {"headers": r.auth(other_force), "json": event()},  # 403
            {"headers": r.auth(), "json": big},  # 413
        ]
        for case in cases:
            assert answer(await lean.post(PATH, **case)) == answer(await slow.post(PATH, **case))

        # Accepted by each, then a duplicate on each.
        first, second = event(f"L-{uuid.uuid4().hex[:8]}"), event(f"F-{uuid.uuid4().hex[:8]}")
        accepted_lean = await lean.post(PATH, headers=r.auth(), json=first)
        accepted_slow = await slow.post(PATH, headers=r.auth(), json=second)
        assert accepted_lean.status_code == accepted_slow.status_code == 202
        assert accepted_lean.json() == {"status": "accepted", "event_id": first["event_id"]}
        duplicate_lean = answer(await lean.post(PATH, headers=r.auth(), json=second))
        duplicate_slow = answer(await slow.post(PATH, headers=r.auth(), json=first))
        assert duplicate_lean[0] == duplicate_slow[0] == 200
        assert duplicate_lean[1] == {"status": "duplicate", "event_id": second["event_id"]}
        assert duplicate_slow[1] == {"status": "duplicate", "event_id": first["event_id"]}
        assert duplicate_lean[2] == duplicate_slow[2]

        # Other methods and paths are FastAPI's, as before.
        assert (await lean.get(PATH)).status_code == 405
        schema = (await lean.get("/openapi.json")).json()
        assert "requestBody" in schema["paths"][PATH]["post"]


async def test_an_unexpected_error_is_a_500_raised_again(
    settings: RelaySettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    async with running(settings) as r:
        monkeypatch.setattr(api, "submit_event", broken)
        with pytest.raises(RuntimeError, match="a bug"):
            await r.client.post(PATH, headers=r.auth(), json=event())
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=r.app, raise_app_exceptions=False),
            base_url="http://t",
        ) as client:
            response = await client.post(PATH, headers=r.auth(), json=event())
        assert (response.status_code, response.text) == (500, "Internal Server Error")
