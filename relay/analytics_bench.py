"""``relay bench analytics``: how long the partnership's figures page takes (issue 20:
under 1 s over 100,000 episodes).

A fresh console database (SQLite here, or a new PostgreSQL database on the server of
``RELAY_DATABASE_URL``) is filled with ``episodes`` synthetic episodes over a year
(about 2.9 per child, two authorities, every figure's facts varied), an MSET chair signs
in, and ``GET /analytics`` for the whole year is timed end to end through the console's
real app (query, figures, charts, the page) ``rounds`` times, for every authority and
for one. The figure reported is the median; the target is reported beside it, never
asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from relay.bench_databases import temporary_database
from services.console import sessions
from services.console.accounts import Role, hash_password
from services.console.app import create_app
from services.console.projections import reported_columns
from services.console.tables import episodes
from services.runtime.migrations import upgrade
from services.runtime.one_off import one_off_database
from services.runtime.settings import RelaySettings

TARGET_S = 1.0
LAS = ("E06000057", "E08000021")
DISTRICTS = tuple(f"NE{n}" for n in range(1, 70))
FACTORS = ("cse", "cce", "county-lines", "self-harm", "mental-health", "trafficking")
PASSWORD = "bench password long enough"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _rows(count: int, end: datetime, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    children = max(1, round(count / 2.9))
    out = []
    for n in range(count):
        child = (
            min(int(rng.paretovariate(1.4)) - 1, children - 1)
            if rng.random() < 0.5
            else (rng.randrange(children))
        )
        began = end - timedelta(minutes=rng.randrange(365 * 24 * 60))
        factors = ",".join(sorted(rng.sample(FACTORS, rng.choice((0, 0, 0, 1, 2))))) or None
        born = date(2008 + child % 10, 1 + child % 12, 1 + child % 28)
        out.append(
            {
                "episode_key": f"10:BENCH-{n:07d}",
                "force_code": "10",
                "episode_ref": f"BENCH-{n:07d}",
                "initials": "X.Y.",
                "birth_year": 2010,
                "looked_after": rng.random() < 0.2,
                "risk_grade": rng.choice(("low", "medium", "medium", "high")),
                "latest_event_type": "returned",
                "latest_event_at": began + timedelta(hours=20),
                "first_event_at": began,
                "event_count": 3,
                "updated_at": began,
                "child_id": f"bench-child-{child:06d}",
                "date_of_birth": born,
                "sex": ("female", "male")[child % 2],
                "authority_code": LAS[child % 2],
                "responsible_la": LAS[child % 2],
                "risk_factors": factors,
                "missing_from": rng.choice(("home", "home", "care", "education", "other")),
                "home_district": DISTRICTS[child % len(DISTRICTS)],
                "found_district": rng.choice(DISTRICTS[:20]) if rng.random() < 0.6 else None,
                # As the console's projection writes them.
                **reported_columns(began, born, factors),
            }
        )
    return out


async def _fill(url: str, count: int, end: datetime, seed: int) -> None:
    async with one_off_database(url) as db:
        rows = _rows(count, end, seed)
        for n in range(0, len(rows), 5000):
            async with db.transaction() as session:
                await session.execute(episodes.insert(), rows[n : n + 5000])
        async with db.transaction() as session:
            await sessions.create_user(
                session, "bench-chair", hash_password(PASSWORD), Role.MSET_CHAIR, None, end
            )


async def _time_pages(url: str, folder: Path, end: datetime, rounds: int) -> dict[str, Any]:
    app = create_app(RelaySettings(console_database_url=url, var_dir=folder), clock=lambda: end)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://console")
    try:
        login = await client.get("/login")
        token = _CSRF.search(login.text)
        assert token is not None
        await client.post(
            "/login",
            data={
                "username": "bench-chair",
                "password": PASSWORD,
                "csrf_token": token.group(1),
                "next": "",
            },
        )
        since = (end - timedelta(days=364)).date().isoformat()
        out: dict[str, Any] = {}
        for name, params in (
            ("every_authority", {"since": since}),
            ("one_authority", {"since": since, "la": LAS[0]}),
        ):
            seconds = []
            for _ in range(rounds + 1):  # the first warms the caches and is not counted
                started = time.perf_counter()
                page = await client.get("/analytics", params=params)
                seconds.append(time.perf_counter() - started)
                if page.status_code != 200:
                    raise RuntimeError(f"/analytics answered {page.status_code}")
            counted = seconds[1:]
            out[name] = {
                "median_s": round(statistics.median(counted), 3),
                "max_s": round(max(counted), 3),
                "page_bytes": len(page.content),
            }
        return out
    finally:
        await client.aclose()
        await app.state.runtime.db.dispose()


def run_analytics(
    count: int = 100_000, rounds: int = 5, seed: int = 0, server_url: str | None = None
) -> dict[str, Any]:
    end = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory(prefix="relay-bench-analytics-") as tmp:
        folder = Path(tmp)
        with temporary_database(folder, server_url) as (kind, url):
            # The console's own migrations, the same name for the file as the router's.
            upgrade("console", url)
            started = time.perf_counter()
            asyncio.run(_fill(url, count, end, seed))
            filled = time.perf_counter() - started
            pages = asyncio.run(_time_pages(url, folder, end, rounds))
    worst = max(p["median_s"] for p in pages.values())
    return {
        "database": kind,
        "episodes": count,
        "rounds": rounds,
        "fill_seconds": round(filled, 1),
        "pages": pages,
        "target_s": TARGET_S,
        "met": worst < TARGET_S,
    }


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("analytics")
    def analytics(
        episodes_: Annotated[
            int, typer.Option("--episodes", min=100, help="episodes in the console")
        ] = 100_000,
        rounds: Annotated[int, typer.Option(min=1, help="timed renders of each page")] = 5,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="also write the figures to this file")
        ] = None,
    ) -> None:
        """The partnership's figures page (issue 20) over EPISODES episodes of a year:
        the median time to render it, for every authority and for one (target < 1 s)."""
        figures = run_analytics(episodes_, rounds, server_url=os.environ.get("RELAY_DATABASE_URL"))
        if json_out is not None:
            json_out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        table = Table(
            title=f"relay bench analytics ({figures['database']}, {figures['episodes']:,} "
            f"episodes, {rounds} rounds)"
        )
        for column in ("page", "median", "slowest", "page size", "target"):
            table.add_column(column, justify="right")
        for name, p in figures["pages"].items():
            table.add_row(
                name.replace("_", " "),
                f"{p['median_s']:.3f} s",
                f"{p['max_s']:.3f} s",
                f"{p['page_bytes'] / 1024:.0f} KiB",
                f"{'✓' if p['median_s'] < TARGET_S else '✗'} < {TARGET_S:.0f} s",
            )
        Console().print(table)
