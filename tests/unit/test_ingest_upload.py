"""``relay ingest``'s client against a fake ingest API (httpx.MockTransport): retries of
items the broker did not take, refusals, and an unreachable API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from relay.cli import app as relay_cli
from relay.embedded import free_port
from services.ingest.upload import UploadError, upload

NDJSON = "\n".join(json.dumps({"event_id": f"E-{i}"}) for i in range(3)) + "\n"


def fake_api(handler: httpx.MockTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=handler, base_url="http://ingest")


async def test_items_the_broker_did_not_take_are_sent_again(tmp_path: Path) -> None:
    sent: list[list[str]] = []

    def api(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)
        sent.append([x["event_id"] for x in items])
        assert request.headers["authorization"] == "Bearer k"
        assert request.headers["x-relay-channel"] == "file"
        first = len(sent) == 1
        return httpx.Response(
            200,
            json={
                "results": [
                    {
                        "index": i,
                        "event_id": x["event_id"],
                        "status": "unavailable" if first and x["event_id"] == "E-1" else "accepted",
                        "errors": [],
                    }
                    for i, x in enumerate(items)
                ]
            },
        )

    feed = tmp_path / "feed.ndjson"
    feed.write_text(NDJSON)
    async with fake_api(httpx.MockTransport(api)) as client:
        summary = await upload(feed, client, "k", retry_delay_s=0)
    assert sent == [["E-0", "E-1", "E-2"], ["E-1"]]
    assert (summary.accepted, summary.unavailable) == (3, 0)
    assert (tmp_path / "feed.ndjson.rejects.csv").read_text().strip() == (
        "line,event_id,field,message"
    )


async def test_a_refused_key_stops_the_upload(tmp_path: Path) -> None:
    feed = tmp_path / "feed.ndjson"
    feed.write_text(NDJSON)
    async with fake_api(httpx.MockTransport(lambda _: httpx.Response(401))) as client:
        with pytest.raises(UploadError, match="refused the key"):
            await upload(feed, client, "k")


def test_an_unreachable_api_is_a_clear_error(tmp_path: Path) -> None:
    feed = tmp_path / "feed.ndjson"
    feed.write_text(NDJSON)
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(relay_cli, ["ingest", str(feed), "--url", url, "--key", "k"])
    assert result.exit_code == 1
    assert "cannot reach the ingest API" in result.output


def test_no_key_is_a_clear_error(tmp_path: Path) -> None:
    feed = tmp_path / "feed.ndjson"
    feed.write_text(NDJSON)
    result = CliRunner().invoke(relay_cli, ["ingest", str(feed)], env={"RELAY_API_KEY": ""})
    assert result.exit_code == 1 and "RELAY_API_KEY" in result.output
