"""``relay ingest FILE``: send a police feed file to the batch endpoint, write its
rejects beside it (``<FILE>.rejects.csv``)."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import httpx

from services.ingest.feed import FeedLine, read_feed

BATCH = 500
RATE_LIMITED_TRIES = 30  # 429 answers waited out before giving up
RETRIES = 3  # for items the broker did not take ("unavailable")


class UploadError(Exception):
    """The upload cannot go on: the API is unreachable or refuses the key."""


@dataclass
class Summary:
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    unavailable: int = 0
    rejects_file: Path | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "unavailable": self.unavailable,
            "rejects_file": str(self.rejects_file) if self.rejects_file else None,
        }


def rejects_path(path: Path) -> Path:
    return path.with_name(path.name + ".rejects.csv")


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


async def upload(
    path: Path,
    client: httpx.AsyncClient,
    key: str,
    progress: Callable[[int], None] | None = None,
    retry_delay_s: float = 1.0,
) -> Summary:
    """Send ``path`` in batches of 500 through ``client`` (its base URL is the ingest
    API). ``progress`` gets the number of file lines done so far."""
    rejects_file = rejects_path(path)
    summary = Summary(rejects_file=rejects_file)
    headers = {"Authorization": f"Bearer {key}", "X-Relay-Channel": "file"}
    with (
        path.open(newline="", encoding="utf-8-sig") as source,
        rejects_file.open("w", newline="", encoding="utf-8") as out,
    ):
        writer = csv.writer(out)
        writer.writerow(["line", "event_id", "field", "message"])
        for batch in _batches(read_feed(path, source)):
            sendable = [item for item in batch if item.payload is not None]
            found: list[tuple[FeedLine, list[dict[str, str]]]] = []
            for item in batch:
                if item.payload is None:
                    summary.rejected += 1
                    found.append((item, item.errors))
            await _send(client, headers, sendable, summary, found, retry_delay_s)
            # In file order, whoever found the problem (this file's reader or the service).
            for item, errors in sorted(found, key=lambda pair: pair[0].line):
                _write(writer, item, errors)
            if progress:
                progress(batch[-1].line)
    return summary


async def _send(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    items: list[FeedLine],
    summary: Summary,
    found: list[tuple[FeedLine, list[dict[str, str]]]],
    retry_delay_s: float,
) -> None:
    for attempt in range(RETRIES + 1):
        if not items:
            return
        results = await _post(client, headers, [item.payload for item in items])
        retry: list[FeedLine] = []
        for result in results:
            item = items[int(result["index"])]
            status = result["status"]
            if status == "accepted":
                summary.accepted += 1
            elif status == "duplicate":
                summary.duplicate += 1
            elif status == "unavailable" and attempt < RETRIES:
                retry.append(item)
            elif status == "unavailable":
                summary.unavailable += 1
                errors = result.get("errors") or [
                    {"field": "(broker)", "message": "the broker did not take it; send again"}
                ]
                found.append((item, errors))
            else:
                summary.rejected += 1
                found.append((item, result.get("errors") or []))
        items = retry
        if items:
            await asyncio.sleep(retry_delay_s * 2**attempt)


async def _post(
    client: httpx.AsyncClient, headers: dict[str, str], payloads: list[Any]
) -> list[dict[str, Any]]:
    for _ in range(RATE_LIMITED_TRIES):
        try:
            response = await client.post(
                "/v1/episode-events:batch", json=payloads, headers=headers, timeout=120
            )
        except httpx.TransportError as exc:
            raise UploadError(
                f"cannot reach the ingest API at {client.base_url}: "
                f"{type(exc).__name__} {exc}".strip()
            ) from exc
        if response.status_code != 429:
            break
        # The key's rate limit: wait as told (nothing in this batch was taken).
        wait = response.headers.get("retry-after", "1")
        await asyncio.sleep(min(60, int(wait) if wait.isdigit() else 1))
    if response.status_code == 401:
        raise UploadError(
            "the ingest API refused the key (401): check --key or "
            "RELAY_API_KEY, and that the key is not revoked"
        )
    if response.status_code != 200:
        raise UploadError(f"the ingest API answered {response.status_code}: {response.text[:300]}")
    return list(response.json()["results"])


def _write(writer: Any, item: FeedLine, errors: list[dict[str, str]]) -> None:
    for error in errors or [{"field": "", "message": "rejected"}]:
        writer.writerow(
            [item.line, item.event_id, error.get("field", ""), error.get("message", "")]
        )


def _batches(lines: Iterator[FeedLine]) -> Iterator[list[FeedLine]]:
    while batch := list(islice(lines, BATCH)):
        yield batch
