"""What keeps the ingest API safe to expose: keys rotated with a grace period and
revoked, a rate limit per key (429 with Retry-After), and a cap on body sizes (413). On
the real broker and database."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime

from services.ingest.settings import IngestSettings
from services.runtime.settings import RelaySettings
from tests.integration.test_ingest_api import add_key, event, relay_command, running
from tests.integration.test_ingest_fuzz import served


async def test_rotated_key_works_for_its_grace_then_only_the_new_one(
    settings: RelaySettings,
) -> None:
    async with running(settings) as r:
        old_key, old_id = await add_key(r.app, "10", "Northumbria PNC bridge")

        rotated = await relay_command(settings, "keys", "rotate", old_id, "--json")
        assert rotated.exit_code == 0, rotated.output
        made = json.loads(rotated.stdout)
        assert made["replaces"] == old_id and made["force_code"] == "10"
        assert made["name"] == "Northumbria PNC bridge"
        new_key = made["key"]
        assert new_key.startswith("mer_10_") and new_key != old_key
        until = datetime.fromisoformat(made["old_key_works_until"])
        hours_left = (until - datetime.now(UTC)).total_seconds() / 3600
        assert 23.9 < hours_left <= 24  # the default grace

        for key in (old_key, new_key):  # both work while the police system changes over
            answer = await r.client.post("/v1/episode-events", json=event(), headers=r.auth(key))
            assert answer.status_code == 202, answer.text

        listed = json.loads((await relay_command(settings, "keys", "list", "--json")).stdout)
        states = {k["id"]: k["state"] for k in listed}
        assert states[old_id].startswith("rotated: works until")
        assert states[made["id"]] == "active"
        assert old_key not in json.dumps(listed) and new_key not in json.dumps(listed)

        # Rotating again with no grace ends the old key at once (the new one stays).
        again = await relay_command(settings, "keys", "rotate", old_id, "--grace-hours", "0")
        assert again.exit_code == 0, again.output
        refused = await r.client.post("/v1/episode-events", json=event(), headers=r.auth(old_key))
        assert refused.status_code == 401
        assert refused.json() == {"error": "unknown or revoked API key"}
        ok = await r.client.post("/v1/episode-events", json=event(), headers=r.auth(new_key))
        assert ok.status_code == 202

        # A revoked key cannot be rotated back to life; the new one can be revoked.
        dead = await relay_command(settings, "keys", "rotate", old_id)
        assert dead.exit_code != 0 and f"no active key with id {old_id}" in dead.output
        assert (await relay_command(settings, "keys", "revoke", made["id"])).exit_code == 0
        gone = await r.client.post("/v1/episode-events", json=event(), headers=r.auth(new_key))
        assert gone.status_code == 401


async def test_each_key_is_limited_on_its_own_with_retry_after(settings: RelaySettings) -> None:
    limited = IngestSettings.of(settings, ingest_rate_limit="3/minute")
    async with running(limited) as r:
        for _ in range(3):
            answer = await r.client.post("/v1/episode-events", json=event(), headers=r.auth())
            assert answer.status_code == 202

        over = await r.client.post("/v1/episode-events", json=event("NB-over"), headers=r.auth())
        assert over.status_code == 429
        wait = int(over.headers["Retry-After"])
        assert 1 <= wait <= 60
        assert "3 per 1 minute" in over.json()["error"]
        # Refused before anything was looked at: not logged, not a reject.
        assert await r.logged() == 3
        rejects = json.loads((await relay_command(limited, "rejects", "list", "--json")).stdout)
        assert rejects == []

        # Another force's key has its own allowance; batches count as one request.
        other, _ = await add_key(r.app, "10", "second bridge")
        batch = await r.client.post(
            "/v1/episode-events:batch", json=[event(), event()], headers=r.auth(other)
        )
        assert batch.status_code == 200
        assert [x["status"] for x in batch.json()["results"]] == ["accepted", "accepted"]
        # An unknown key is refused as unknown, not counted against anyone.
        assert (
            await r.client.post("/v1/episode-events", json=event(), headers=r.auth("mer_10_x"))
        ).status_code == 401


async def test_bodies_over_the_limits_are_refused_unread(settings: RelaySettings) -> None:
    small = IngestSettings.of(settings, ingest_max_event_bytes=2048, ingest_max_batch_bytes=4096)
    async with running(small) as r:
        fits = event("NB-fits")
        assert len(json.dumps(fits)) < 2048
        assert (
            await r.client.post("/v1/episode-events", json=fits, headers=r.auth())
        ).status_code == 202

        padded = event("NB-big", child={**fits["child"], "address": "x" * 3000})
        big = await r.client.post("/v1/episode-events", json=padded, headers=r.auth())
        assert big.status_code == 413
        assert big.json() == {"error": "the body is over 2,048 bytes: split it"}

        # Without a Content-Length (chunked), the stream is cut at the limit too.
        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b" " * 1000

        streamed = await r.client.post(
            "/v1/episode-events",
            content=chunks(),
            headers={**r.auth(), "Content-Type": "application/json"},
        )
        assert streamed.status_code == 413

        batch = await r.client.post(
            "/v1/episode-events:batch", json=[event() for _ in range(20)], headers=r.auth()
        )
        assert batch.status_code == 413
        assert batch.json() == {"error": "the body is over 4,096 bytes: split it"}
        assert await r.logged() == 1


def _urllib_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    """POST as Python's standard library does: the whole body first, then the answer."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


async def test_a_body_over_the_limit_gets_its_413_in_urllib_too(settings: RelaySettings) -> None:
    # Far larger than the socket buffers: a server that answered and closed without
    # reading it would reset the connection before urllib read the 413.
    body = b'{"event_id": "' + b"x" * (16 * 1024 * 1024) + b'"}'
    small = IngestSettings.of(settings, ingest_max_event_bytes=2048)
    async with served(small) as s:
        headers = {**s.auth, "Content-Type": "application/json"}
        status, answer = await asyncio.to_thread(
            _urllib_post, f"{s.url}/v1/episode-events", body, headers
        )
        assert (status, answer) == (413, {"error": "the body is over 2,048 bytes: split it"})
        # A refusal before the body is read (no key) reaches urllib too.
        status, answer = await asyncio.to_thread(
            _urllib_post,
            f"{s.url}/v1/episode-events",
            body,
            {"Content-Type": "application/json"},
        )
        assert status == 401 and "API key" in answer["error"]
        # And the connection stays usable: the next event on a fresh client is taken.
        status, answer = await asyncio.to_thread(
            _urllib_post,
            f"{s.url}/v1/episode-events",
            json.dumps(event("NB-after")).encode(),
            headers,
        )
        assert status == 202, answer
