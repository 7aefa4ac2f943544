"""The benchmark's police client against a real HTTP server (uvicorn, the ingest's own
server): what it sends arrives whole, answers are read, connections are kept."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

from relay.bench_poster import Poster
from relay.embedded import free_port
from tests.conftest import eventually


def _app(seen: list[tuple[str, str | None, object]], peers: set[int]) -> FastAPI:
    app = FastAPI()
    calls = {"n": 0}

    @app.post("/v1/episode-events")
    async def accept(request: Request) -> Response:
        calls["n"] += 1
        assert request.client is not None
        peers.add(request.client.port)
        seen.append((request.url.path, request.headers.get("authorization"), await request.json()))
        if calls["n"] == 2:
            return Response(status_code=429, headers={"Retry-After": "0"})
        if calls["n"] == 3:
            # The server ends the connection after this answer: the client opens another.
            return Response(status_code=202, content=b'{"ok":3}', headers={"Connection": "close"})
        return Response(status_code=202, content=b'{"ok":true}', media_type="application/json")

    return app


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[tuple[str, str | None, object]], set[int]]]:
    seen: list[tuple[str, str | None, object]] = []
    peers: set[int] = set()
    port = free_port()
    config = uvicorn.Config(_app(seen, peers), host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    await eventually(lambda: running.started or task.done(), 30)
    try:
        yield f"http://127.0.0.1:{port}", seen, peers
    finally:
        running.should_exit = True
        await task


async def test_posts_arrive_whole_and_answers_are_read(
    server: tuple[str, list[tuple[str, str | None, object]], set[int]],
) -> None:
    url, seen, peers = server
    poster = Poster(url, {"Authorization": "Bearer k-1"}, connections=1)
    try:
        answers = []
        for n in range(5):
            body = json.dumps({"event_id": f"E-{n}", "name": "Zoë"}).encode()
            answers.append(await poster.post("/v1/episode-events", body))
    finally:
        await poster.close()
    assert [a.status for a in answers] == [202, 429, 202, 202, 202]
    assert answers[1].headers["retry-after"] == "0"
    assert bytes(answers[2].body) == b'{"ok":3}' and bytes(answers[0].body) == b'{"ok":true}'
    assert seen == [
        ("/v1/episode-events", "Bearer k-1", {"event_id": f"E-{n}", "name": "Zoë"})
        for n in range(5)
    ]
    # One connection for the first three, a new one after the server closed it.
    assert len(peers) == 2


async def test_connections_are_capped_and_reused(
    server: tuple[str, list[tuple[str, str | None, object]], set[int]],
) -> None:
    url, seen, peers = server
    poster = Poster(url, {}, connections=3)
    try:
        body = b'{"event_id": "E"}'
        await asyncio.gather(*(poster.post("/v1/episode-events", body) for _ in range(30)))
    finally:
        await poster.close()
    assert len(seen) == 30
    assert len(peers) <= 4  # three at once, and one reopened after the server's close


async def test_a_server_that_never_answers_is_an_error_not_a_hang() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)  # takes the request, never answers
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    poster = Poster(f"http://127.0.0.1:{port}", {}, connections=1, timeout_s=0.2)
    try:
        with pytest.raises(TimeoutError):
            await poster.post("/v1/episode-events", b"{}")
    finally:
        await poster.close()
        server.close()


def test_a_url_it_cannot_speak_is_refused() -> None:
    with pytest.raises(ValueError, match="plain http only"):
        Poster("https://ingest.example", {}, connections=1)
