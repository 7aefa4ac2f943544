"""``relay bench returns``: how long a local authority's figures take over a year of
episodes (issue 21: 100,000 episodes in under 2 s). A fresh console database (SQLite, or
a new database on RELAY_DATABASE_URL's PostgreSQL server) gets EPISODES episodes of one
authority over twelve months, about 2.9 per child (DOMAIN: volumes), an RHI task for
most returns and a record for most tasks; then the figures are computed as ``relay
returns figures`` does (the queries and the counting), REPEATS times, and the median
reported against the target. Always exits 0: the target is reported, not asserted."""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Table as SqlTable

from relay.bench_databases import temporary_database
from services.console import returns_queries
from services.console.tables import episodes, metadata, rhi_records, rhi_tasks
from services.runtime.database import Database
from services.runtime.one_off import one_off_database

TARGET_S = 2.0
LA = "E06000057"
ELSEWHERE = "E08000021"
YEAR_START = date(2025, 4, 1)
YEAR_END = date(2026, 3, 31)
_CHUNK = 5_000


def _rows(
    count: int, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Episodes, tasks and records: synthetic, no names (only what the figures read)."""
    rng = random.Random(seed)
    start = datetime(2025, 4, 1, tzinfo=UTC)
    span = (datetime(2026, 4, 1, tzinfo=UTC) - start).total_seconds()
    children = max(1, round(count / 2.9))
    looked_after = {c for c in range(children) if rng.random() < 0.1}
    placed_out = {c for c in looked_after if rng.random() < 0.4}
    eps, tasks, records = [], [], []
    for n in range(count):
        child = (
            min(int(rng.paretovariate(1.6)) - 1, children - 1)
            if rng.random() < 0.5
            else rng.randrange(children)
        )
        began = start + timedelta(seconds=rng.random() * span)
        key = f"10:BENCH-{n:07d}"
        eps.append(_episode(n, key, began, child in looked_after, child, child in placed_out))
        if rng.random() < 0.85:  # returned: an interview owed
            task, record = _task(rng, n, key, began)
            tasks.append(task)
            if record is not None:
                records.append(record)
    return eps, tasks, records


def _episode(
    n: int, key: str, began: datetime, looked_after: bool, child: int, placed_out: bool
) -> dict[str, Any]:
    return {
        "episode_key": key,
        "force_code": "10",
        "episode_ref": f"BENCH-{n:07d}",
        "initials": "X.Y.",
        "birth_year": 2011,
        "looked_after": looked_after,
        "latest_event_type": "returned",
        "latest_event_at": began + timedelta(hours=20),
        "first_event_at": began,
        "event_count": 3,
        "updated_at": began,
        "child_id": f"bench-child-{child}",
        "authority_code": LA,
        "resident_la": ELSEWHERE if placed_out else None,
    }


def _task(
    rng: random.Random, n: int, key: str, began: datetime
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The interview task of a return, and its record if it has an outcome."""
    returned = began + timedelta(hours=rng.uniform(2, 48))
    task_id = f"bench-task-{n:07d}"
    outcome = rng.choices(["completed", "declined", "not-possible", None], weights=[70, 12, 8, 10])[
        0
    ]
    task = {
        "task_id": task_id,
        "episode_key": key,
        "authority_code": LA,
        "authority_name": "Northumberland County Council",
        "returned_at": returned,
        "due_at": returned + timedelta(hours=72),
        "requested_at": returned,
        "state": outcome or "open",
        "state_at": returned + timedelta(hours=rng.uniform(1, 120)),
    }
    if outcome is None:
        return task, None
    offered = returned + timedelta(hours=rng.uniform(1, 80))
    record = {
        "task_id": task_id,
        "message_id": f"bench-record-{n:07d}",
        "outcome": outcome,
        "reason": None if outcome == "completed" else "bench",
        "recorded_by": "bench",
        "recorded_at": offered + timedelta(hours=48),
        "offered_at": offered,
        "offer_method": "phone",
        "offer_accepted": outcome != "declined",
        "interviewed_at": offered + timedelta(hours=rng.uniform(0, 30))
        if outcome == "completed"
        else None,
    }
    return task, record


async def _load(db: Database, seed: int, count: int) -> dict[str, int]:
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    eps, tasks, records = _rows(count, seed)
    table: SqlTable
    for table, rows in ((episodes, eps), (rhi_tasks, tasks), (rhi_records, records)):
        for i in range(0, len(rows), _CHUNK):
            async with db.transaction() as session:
                await session.execute(table.insert(), rows[i : i + _CHUNK])
    return {"episodes": len(eps), "rhi_tasks": len(tasks), "rhi_records": len(records)}


async def _figures_once(db: Database) -> tuple[float, int]:
    """(seconds, episodes counted): reading and counting, as ``relay returns figures``."""
    started = time.perf_counter()
    async with db.transaction() as session:
        result = await returns_queries.returns_figures(session, LA, YEAR_START, YEAR_END)
    return time.perf_counter() - started, result.total.episodes


def run_returns(
    count: int, repeats: int = 5, seed: int = 0, server_url: str | None = None
) -> dict[str, Any]:
    server_url = server_url if server_url is not None else os.environ.get("RELAY_DATABASE_URL")
    with (
        tempfile.TemporaryDirectory(prefix="relay-bench-returns-") as tmp,
        temporary_database(Path(tmp), server_url) as (kind, url),
    ):

        async def run() -> dict[str, Any]:
            async with one_off_database(url) as db:
                started = time.perf_counter()
                loaded = await _load(db, seed, count)
                load_s = time.perf_counter() - started
                runs = [await _figures_once(db) for _ in range(repeats)]
            totals = [seconds for seconds, _ in runs]
            median = statistics.median(totals)
            return {
                "database": kind,
                "loaded": loaded,
                "load_s": round(load_s, 2),
                "episodes_counted": runs[0][1],
                "runs_s": [round(t, 3) for t in totals],
                "figures_s_median": round(median, 3),
                "target_s": TARGET_S,
                "target_met": median < TARGET_S,
            }

        return asyncio.run(run())


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("returns")
    def returns(
        episodes_: Annotated[
            int, typer.Option("--episodes", min=1, help="episodes of one authority over a year")
        ] = 100_000,
        repeats: Annotated[int, typer.Option(min=1, help="runs; the median is the figure")] = 5,
        seed: Annotated[int, typer.Option(help="the same seed gives the same data")] = 0,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="also write the figures to this file")
        ] = None,
    ) -> None:
        """A year's figures for one authority (relay returns figures) over EPISODES
        episodes in a fresh console database (RELAY_DATABASE_URL's PostgreSQL server,
        else SQLite): the median time of REPEATS runs against the 2-second target."""
        with Console(stderr=True).status("loading episodes, then computing the figures"):
            result = run_returns(episodes_, repeats, seed)
        if json_out is not None:
            json_out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        table = Table("figure", "value", title=f"relay bench returns ({result['database']})")
        for key, value in result.items():
            table.add_row(key, str(value))
        verdict = "PASS" if result["target_met"] else "MISS"
        table.add_row(
            "verdict", f"{verdict}: median {result['figures_s_median']} s, target < {TARGET_S} s"
        )
        Console().print(table)
