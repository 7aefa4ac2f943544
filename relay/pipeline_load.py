"""The load of ``relay bench pipeline``: police events for children on the area's school
rolls, posted to ingest as a client would, and the wait for their mail."""

from __future__ import annotations

import asyncio
import csv
import json
import random
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relay.bench_poster import Poster
from relay.pipeline_floors import CONCURRENT_POSTS

Progress = Callable[[str, int, int], None]

REF = re.compile(r"BENCH-\d{6}")
QUIET_S = 15.0  # no mail for this long (longer than a group rebalance): the run is over


def bench_event(n: int, row: dict[str, str]) -> dict[str, Any]:
    child: dict[str, Any] = {
        "given_name": row["given_name"],
        "family_name": row["family_name"],
        "date_of_birth": row["date_of_birth"],
    }
    for column in ("postcode", "upn", "nhs_number"):
        if row.get(column):
            child[column] = row[column]
    return {
        "event_id": f"BENCH-EV-{n:06d}",
        "type": "reported",
        "occurred_at": datetime.now(UTC).isoformat(),
        "force_code": "10",
        "episode_ref": f"BENCH-{n:06d}",
        "child": child,
        "risk": {"grade": "medium"},
    }


def school_roll_events(area: Path, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` events, each a different episode of a child on a school roll (the
    router finds the school, usually the GP practice, and tells the authority)."""
    with (area / "roll_schools.csv").open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if not r.get("to")]
    rng = random.Random(seed)
    return [bench_event(n, rng.choice(rows)) for n in range(1, count + 1)]


async def post_events(
    ingest: str, key: str, events: list[dict[str, Any]], rate: float | None, progress: Progress
) -> tuple[dict[str, float], float]:
    """Post every event; the time of each one's 202, by episode ref, and how long the
    posting took."""
    accepted: dict[str, float] = {}
    started = time.monotonic()
    in_flight = CONCURRENT_POSTS if rate is None else 64
    poster = Poster(ingest, {"Authorization": f"Bearer {key}"}, in_flight)

    async def one(n: int, event: dict[str, Any]) -> None:
        if rate is not None:
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        body = json.dumps(event).encode()
        while True:
            answer = await poster.post("/v1/episode-events", body)
            if answer.status != 429 and answer.status != 503:
                break
            await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
        if answer.status != 202:
            raise RuntimeError(f"event {event['event_id']}: HTTP {answer.status}")
        accepted[event["episode_ref"]] = time.time()
        progress("post", len(accepted), len(events))

    try:
        await asyncio.gather(*(one(n, e) for n, e in enumerate(events)))
    finally:
        await poster.close()
    return accepted, time.monotonic() - started


def wait_for_mail(
    received: list[Any], progress: Progress, expected_min: int, timeout_s: float
) -> None:
    """Until no mail has come for QUIET_S, once at least ``expected_min`` have."""
    deadline = time.monotonic() + timeout_s
    seen, last_change = 0, time.monotonic()
    while time.monotonic() < deadline:
        count = len(received)
        if count != seen:
            seen, last_change = count, time.monotonic()
            progress("deliver", count, max(count, expected_min))
        elif count >= expected_min and time.monotonic() - last_change > QUIET_S:
            return
        time.sleep(0.2)
    raise RuntimeError(f"only {len(received)} mails in {timeout_s:.0f} s")
