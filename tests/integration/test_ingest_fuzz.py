"""The real ingest API (uvicorn, broker, PostgreSQL or SQLite) under generated input:
bodies from Hypothesis, and requests Schemathesis makes from ``/openapi.json``. Every
answer is an acceptance, a duplicate, an episode's status, or a 4xx; a 422 names the
fields; never a 5xx.
The bodies that once got a 5xx are kept at the end as examples."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, example, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from relay.embedded import free_port
from services.ingest.app import create_app
from services.ingest.settings import IngestSettings
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.conftest import eventually
from tests.integration.test_ingest_api import add_key, event, running
from tests.unit.test_ingest_properties import JSON, NASTY, NEAR, mutated, related

# The server shares this process: its broker client calls `random` while Hypothesis draws
# in the test's thread, which Hypothesis reports as a strategy using `random`.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

# 4xx a body may earn besides 422: another force (403), too large (413), too many (429).
REFUSALS = {403, 413, 429}
UNLIMITED = {"ingest_rate_limit": "100000/second"}
BOUNDED = hypothesis.settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))


@dataclass
class Served:
    url: str
    key: str
    app: FastAPI

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@asynccontextmanager
async def served(settings: RelaySettings) -> AsyncIterator[Served]:
    """The ingest app behind a real uvicorn server on this loop, with a key for force 10
    and no practical rate limit. Blocking clients run in a thread while it serves."""
    settings = IngestSettings.of(settings, **UNLIMITED)
    await asyncio.to_thread(upgrade, "ingest", settings.database_url_for("ingest"))
    port = free_port()
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started or serving.done(), 60)
        assert server.started, "the ingest server did not start"
        key, _ = await add_key(app, "10", "Fuzzing bridge")
        yield Served(f"http://127.0.0.1:{port}", key, app)
    finally:
        server.should_exit = True
        await serving


def assert_named(errors: Any, changed: str | None = None) -> None:
    assert isinstance(errors, list) and errors, errors
    for error in errors:
        assert set(error) == {"field", "message"}, error
        assert isinstance(error["field"], str) and error["field"], error
        assert isinstance(error["message"], str) and error["message"], error
        if changed is not None:
            assert related(error["field"], changed), (changed, error["field"])


def assert_single_answer(response: httpx.Response | Any, changed: str | None = None) -> None:
    """What ``POST /v1/episode-events`` may answer to any body."""
    status = response.status_code
    assert status < 500, (status, response.text[:500])
    if status in (200, 202):
        assert response.json()["status"] == ("accepted" if status == 202 else "duplicate")
    elif status == 422:
        assert_named(response.json()["errors"], changed)
    elif status == 403:
        assert changed in (None, "force_code"), changed
    else:
        assert status in REFUSALS | {401}, (status, response.text[:500])


def assert_batch_answer(response: httpx.Response | Any) -> None:
    """What ``POST /v1/episode-events:batch`` may answer: per item, or 422 for the body."""
    status = response.status_code
    assert status < 500, (status, response.text[:500])
    if status == 422:
        assert_named(response.json()["errors"])
        return
    if status != 200:
        assert status in REFUSALS | {401}, (status, response.text[:500])
        return
    for result in response.json()["results"]:
        assert result["status"] in ("accepted", "duplicate", "rejected"), result
        if result["status"] == "rejected":
            assert_named(result["errors"])


def assert_status_answer(response: httpx.Response | Any) -> None:
    """What ``GET /v1/episodes/{force_code}/{episode_ref}`` may answer: the episode, or
    a 4xx; a 422 names the path's parts."""
    status = response.status_code
    assert status < 500, (status, response.text[:500])
    if status == 200:
        assert {"events", "recipients"} <= set(response.json())
    elif status == 422:
        errors = response.json()["errors"]
        assert_named(errors)
        assert {e["field"] for e in errors} <= {"force_code", "episode_ref"}, errors
    else:
        assert status in {401, 403, 404, 429}, (status, response.text[:500])


def answers(path: str) -> Callable[[Any], None]:
    if path.startswith("/v1/episodes/"):
        return assert_status_answer
    return assert_batch_answer if path.endswith(":batch") else assert_single_answer


MUTATED = mutated().map(lambda pair: ("mutated", *pair))
BODIES = st.one_of(
    MUTATED,
    MUTATED,  # twice as likely: most of these get past validation into the store
    NEAR.map(lambda data: ("near", data, None)),
    JSON.map(lambda data: ("any", data, None)),
)


async def test_generated_bodies_get_an_acceptance_or_errors_naming_the_field(
    settings: RelaySettings,
) -> None:
    async with served(settings) as s:

        def fuzz() -> None:
            with httpx.Client(base_url=s.url, headers=s.auth, timeout=30) as client:

                @hypothesis.settings(BOUNDED, max_examples=60)
                @given(BODIES, st.sampled_from(["single", "array", "ndjson"]), st.booleans())
                def post(body: tuple[str, Any, str | None], how: str, ascii_only: bool) -> None:
                    kind, data, changed = body
                    if kind == "mutated" and changed != "event_id":
                        data = {**data, "event_id": f"FZ-{uuid.uuid4().hex[:12]}"}
                    text = json.dumps(data, ensure_ascii=ascii_only)
                    if how == "single":
                        answer = client.post(
                            "/v1/episode-events",
                            content=text.encode("utf-8", "surrogatepass"),
                            headers={"Content-Type": "application/json"},
                        )
                        assert_single_answer(answer, changed)
                    elif how == "array":
                        answer = client.post(
                            "/v1/episode-events:batch",
                            content=f"[{text}, {text}]".encode("utf-8", "surrogatepass"),
                            headers={"Content-Type": "application/json"},
                        )
                        assert_batch_answer(answer)
                    else:
                        answer = client.post(
                            "/v1/episode-events:batch",
                            content=f"{text}\n{text}\n".encode("utf-8", "surrogatepass"),
                            headers={"Content-Type": "application/x-ndjson"},
                        )
                        assert_batch_answer(answer)

                post()
                assert client.get("/healthz").status_code == 200

        await asyncio.to_thread(fuzz)


RAW = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass")),
    NASTY.map(lambda t: t.encode("utf-8", "surrogatepass")),
)


async def test_raw_bytes_are_refused_as_a_body_error(settings: RelaySettings) -> None:
    async with served(settings) as s:

        def fuzz() -> None:
            with httpx.Client(base_url=s.url, headers=s.auth, timeout=30) as client:

                @hypothesis.settings(BOUNDED, max_examples=40)
                @given(RAW)
                @example(b"9" * 5000)  # over Python's 4300-digit limit for int()
                @example(b"[" * 500 + b"]" * 500)
                @example(b"\xef\xbb\xbf{}")  # a byte order mark
                @example(b'{"event_id": "NB-1", "event_id": "NB-2"}')
                @example(b"NaN")
                @example(b'{"event_id": Infinity, "force_code": -Infinity}')
                @example(b'"\\ud800"')
                @example(b"\xff\xfe{}")
                def post(raw: bytes) -> None:
                    answer = client.post(
                        "/v1/episode-events",
                        content=raw,
                        headers={"Content-Type": "application/json"},
                    )
                    assert_single_answer(answer)

                post()

        await asyncio.to_thread(fuzz)


# Schemathesis -------------------------------------------------------------------------

SCHEMATHESIS_EXAMPLES = 25  # per operation and mode: 2 x 2 x 25 requests, ~20 s


async def test_schemathesis_from_openapi_finds_no_server_error_and_422s_name_fields(
    settings: RelaySettings,
) -> None:
    async with served(settings) as s:

        def run() -> list[str]:
            schema = schemathesis.openapi.from_url(f"{s.url}/openapi.json", timeout=30)
            seen: list[str] = []
            started = time.monotonic()
            for result in schema.get_all_operations():
                operation = result.ok()
                seen.append(operation.label)
                check = answers(operation.path)
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    strategy = operation.as_strategy(
                        mode, headers=s.auth, media_type="application/json"
                    )

                    @hypothesis.settings(BOUNDED, max_examples=SCHEMATHESIS_EXAMPLES)
                    @given(strategy)
                    def call(case: schemathesis.Case) -> None:
                        response = case.call(base_url=s.url, timeout=30)
                        case.validate_response(response, checks=[not_a_server_error])
                        check(response)  # noqa: B023 (called before the loop moves on)

                    call()
            assert time.monotonic() - started < 60
            return seen

        seen = await asyncio.to_thread(run)
    assert sorted(seen) == [
        "GET /v1/episodes/{force_code}/{episode_ref}",
        "POST /v1/episode-events",
        "POST /v1/episode-events:batch",
    ]


# Bodies that once got a 500 or a 503 (a retry that could never succeed): deep nesting,
# and NUL or lone surrogates where a reject keeps the text (PostgreSQL stores no NUL).
HOSTILE = {
    "deep-nesting": b"[" * 60_000,
    "nul-in-event-id": json.dumps(event("NB-\u0000-1")).encode(),
    "surrogate-in-event-id": json.dumps(event("NB-\ud800-1")).encode(),
    "nul-in-force-code": json.dumps(event(force_code="1\u0000")).encode(),
    "nul-byte-in-body": b'{"event_id": "NB-1\x00"}',
}


@pytest.mark.parametrize("body", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_hostile_bodies_answer_4xx(settings: RelaySettings, body: bytes) -> None:
    async with (
        running(IngestSettings.of(settings, **UNLIMITED)) as r,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=r.app, raise_app_exceptions=False),
            base_url="http://t",
        ) as client,
    ):
        answer = await client.post(
            "/v1/episode-events",
            content=body,
            headers={**r.auth(), "Content-Type": "application/json"},
        )
    assert 400 <= answer.status_code < 500, answer.status_code


async def test_ndjson_lines_end_only_at_a_newline(settings: RelaySettings) -> None:
    child = {"given_name": "Amy", "family_name": "Smith\u2028Jones", "date_of_birth": "2012-05-04"}
    line = json.dumps(event("NB-LS-1", child=child), ensure_ascii=False)
    async with running(IngestSettings.of(settings, **UNLIMITED)) as r:
        answer = await r.client.post(
            "/v1/episode-events:batch",
            content=f"{line}\n".encode(),
            headers={**r.auth(), "Content-Type": "application/x-ndjson"},
        )
    assert answer.status_code == 200, answer.text
    assert [x["status"] for x in answer.json()["results"]] == ["accepted"]
