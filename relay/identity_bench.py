"""``relay bench identity``: how right the router's person index is (issue 20).

The area is ``relay demo-data``'s (its truth file knows which child each police record
is), with every missing child going missing several times (``repeats``) and the
variations police records really have: each episode's record carries the demo's
errors (nicknames, misspelt or changed family names, swapped names, mistyped dates of
birth, an old postcode), an NHS number on some episodes only, and the force's own
person id on some. Twins and siblings of one household are in the feed.

Every valid event goes through the router's real code in time order on a fresh
database (SQLite here, or a new PostgreSQL database on ``RELAY_DATABASE_URL``'s
server): roll candidates and the roll matcher, then the person index
(services/router/person_index.py), both with the router's matching model
(``RELAY_MATCHING_MODEL_FILE``, by default ``deploy/matching-model.json``). At the end,
for every pair of episodes:

- same child in truth, one ``child_id``: linked (target: at least 98 % of such pairs);
- different children, one ``child_id``: a false link (target: 0), with the twin and
  sibling pairs counted apart;
- doubtful links sent to a person (``same-child`` reviews) are counted, never linked.

Targets are reported, never asserted: a benchmark measures.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from relay import demo_data
from relay.bench_databases import temporary_database
from schemas.episode import EpisodeEventV1, episode_message_id
from services.router import importing, person_index, repository
from services.router.handlers import LOCAL_TIME
from services.router.matching import match_child
from services.router.model import MatchingModel, read_model
from services.router.settings import RouterSettings
from services.router.tables import child_reviews, person_episodes
from services.runtime.database import Database
from services.runtime.migrations import upgrade
from services.runtime.one_off import one_off_database

TARGETS = {"linked_share": 0.98, "false_links": 0}
POLICE_ID_SHARE = 0.5  # of episodes: the force's person id is on the record


@dataclass(frozen=True)
class EpisodeTruth:
    """One episode: who it really is, and the household (twins, siblings)."""

    episode_key: str
    child_id: str
    household: str  # family name and address of the true child
    twin_of: str
    sibling_of: str


def make_area(children: int, seed: int, repeats: float, now: datetime) -> demo_data.DemoArea:
    """The demo area with more repeat episodes and more twins than the demo's default,
    police person ids on some episodes."""
    area = demo_data.generate(children, seed=seed, now=now, repeat_share=repeats, twin_share=0.2)
    rng = random.Random(seed + 1)
    person_ids: dict[str, str] = {}
    truth = {t.event_id: t for t in area.truth}
    given: dict[str, bool] = {}  # per episode: the force gave its person id
    for event in area.feed:
        child_id = truth[event["event_id"]].child_id
        ref = event["episode_ref"]
        if ref not in given:
            given[ref] = rng.random() < POLICE_ID_SHARE
        if given[ref]:
            pid = person_ids.setdefault(child_id, f"NP{len(person_ids) + 100000:07d}")
            event["child"] = {**event["child"], "police_person_id": pid}
    return area


def accepted(area: demo_data.DemoArea) -> list[EpisodeEventV1]:
    """The events ingest would accept (a wrong check digit, a child 18 on the day: not)."""
    out = []
    for event in area.feed:
        try:
            out.append(
                EpisodeEventV1.model_validate(
                    {
                        **event,
                        "message_id": episode_message_id(event["force_code"], event["event_id"]),
                        "accepted_at": event["occurred_at"],
                        "source": "bench",
                    }
                )
            )
        except ValidationError:
            continue
    return out


def episode_truths(
    area: demo_data.DemoArea, events: list[EpisodeEventV1]
) -> dict[str, EpisodeTruth]:
    by_id = {c.child_id: c for c in area.children}
    truth = {t.event_id: t for t in area.truth}
    out: dict[str, EpisodeTruth] = {}
    for event in events:
        key = event.episode_key
        if key in out:
            continue
        t = truth[event.event_id]
        child = by_id.get(t.child_id)
        out[key] = EpisodeTruth(
            key,
            t.child_id,
            f"{child.family_name}|{child.address}" if child else t.child_id,
            child.twin_of if child else "",
            child.sibling_of if child else "",
        )
    return out


def score(truths: dict[str, EpisodeTruth], linked: dict[str, str]) -> dict[str, Any]:
    """Pairs of episodes: same child linked, different children linked (by kind)."""
    same_pairs = same_linked = 0
    by_child: defaultdict[str, list[str]] = defaultdict(list)
    for key, t in truths.items():
        by_child[t.child_id].append(key)
    for keys in by_child.values():
        for a, b in combinations(keys, 2):
            same_pairs += 1
            same_linked += linked.get(a) is not None and linked.get(a) == linked.get(b)
    by_link: defaultdict[str, list[str]] = defaultdict(list)
    for key, child_id in linked.items():
        if key in truths:
            by_link[child_id].append(key)
    false = Counter[str]()
    for keys in by_link.values():
        for a, b in combinations(keys, 2):
            ta, tb = truths[a], truths[b]
            if ta.child_id == tb.child_id:
                continue
            if ta.twin_of == tb.child_id:
                false["twins"] += 1
            elif ta.household == tb.household:
                false["siblings"] += 1
            else:
                false["others"] += 1
    households: defaultdict[str, set[str]] = defaultdict(set)
    for t in truths.values():
        households[t.household].add(t.child_id)
    return {
        "episodes": len(truths),
        "children": len(by_child),
        "same_child_pairs": same_pairs,
        "same_child_pairs_linked": same_linked,
        "linked_share": same_linked / same_pairs if same_pairs else 1.0,
        "false_links": sum(false.values()),
        "false_links_by_kind": dict(false),
        "households_with_two_children_in_feed": sum(1 for c in households.values() if len(c) > 1),
        "twin_children_in_feed": sum(
            1 for t in {t.child_id: t for t in truths.values()}.values() if t.twin_of
        ),
    }


async def _link_all(
    db: Database, events: list[EpisodeEventV1], model: MatchingModel
) -> tuple[dict[str, str], int, float]:
    """Every accepted event through roll matching and the person index, in time order,
    with the router's matching model."""
    started = time.perf_counter()
    for message in events:
        async with db.transaction() as session:
            on = message.occurred_at.astimezone(LOCAL_TIME).date()
            live = await repository.matching_model(session, model)  # as the handler
            candidates = await repository.candidates(session, message.child)
            decisions = match_child(message.child, candidates, on, live)
            await person_index.link_episode(session, message, decisions, datetime.now(UTC), live)
    seconds = time.perf_counter() - started
    async with db.transaction() as session:
        rows = await session.execute(
            select(
                person_episodes.c.force_code,
                person_episodes.c.episode_ref,
                person_episodes.c.child_id,
            )
        )
        linked = {f"{f}:{e}": c for f, e, c in rows}
        reviews = len((await session.execute(select(child_reviews.c.review_id))).all())
    return linked, reviews, seconds


async def _run(
    url: str, folder: Path, area: demo_data.DemoArea, events: list[EpisodeEventV1]
) -> tuple[dict[str, str], int, float]:
    demo_data.write_area(area, folder)
    async with one_off_database(url) as db:
        await importing.import_organisations(db, folder / "organisations.csv")
        await importing.import_rolls(
            db, [folder / f"roll_{kind}.csv" for kind in ("schools", "gps", "yot")]
        )
        return await _link_all(db, events, read_model(RouterSettings().matching_model_file))


def run_identity(
    children: int = 2000,
    seed: int = 0,
    repeats: float = 1.0,
    server_url: str | None = None,
    workdir: Path | None = None,
) -> dict[str, Any]:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    area = make_area(children, seed, repeats, now)
    events = accepted(area)
    truths = episode_truths(area, events)
    with tempfile.TemporaryDirectory(prefix="relay-bench-identity-", dir=workdir) as tmp:
        folder = Path(tmp)
        with temporary_database(folder, server_url) as (kind, url):
            upgrade("router", url)
            linked, reviews, seconds = asyncio.run(_run(url, folder / "area", area, events))
    figures = score(truths, linked)
    figures.update(
        {
            "database": kind,
            "area_children": children,
            "seed": seed,
            "events": len(events),
            "same_child_reviews": reviews,
            "link_seconds": round(seconds, 2),
            "targets": TARGETS,
            "met": {
                "linked_share": figures["linked_share"] >= TARGETS["linked_share"],
                "false_links": figures["false_links"] <= TARGETS["false_links"],
            },
        }
    )
    return figures


def register(bench_app: typer.Typer) -> None:
    """``relay bench identity`` on ``bench_app``."""

    @bench_app.command("identity")
    def identity(
        children: Annotated[
            int, typer.Option(min=100, help="children in the synthetic area")
        ] = 8000,
        seed: Annotated[int, typer.Option(help="the area's random seed")] = 0,
        repeats: Annotated[
            float,
            typer.Option(min=0.0, max=1.0, help="share of missing children missing 3 times"),
        ] = 1.0,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="also write the figures to this file")
        ] = None,
    ) -> None:
        """Identity across episodes (issue 20): every episode of a synthetic area with
        police record errors (nicknames, misspelt and changed family names, NHS number on
        some episodes, the force's person id on some, twins and siblings) through the
        roll matcher and the person index; the share of same-child episode pairs linked
        (target 98 %) and links between different children (target 0)."""
        figures = run_identity(children, seed, repeats, os.environ.get("RELAY_DATABASE_URL"))
        if json_out is not None:
            json_out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        table = Table(title=f"relay bench identity ({figures['database']}, seed {seed})")
        table.add_column("figure")
        table.add_column("value", justify="right")
        table.add_column("target", justify="right")
        met = figures["met"]
        table.add_row(
            "episodes (accepted events)", f"{figures['episodes']:,} ({figures['events']:,})", ""
        )
        table.add_row("children with an episode", f"{figures['children']:,}", "")
        table.add_row(
            "same-child episode pairs linked",
            f"{figures['same_child_pairs_linked']:,} of {figures['same_child_pairs']:,} "
            f"({figures['linked_share']:.1%})",
            f"{'✓' if met['linked_share'] else '✗'} ≥ {TARGETS['linked_share']:.0%}",
        )
        kinds = ", ".join(f"{k} {n}" for k, n in figures["false_links_by_kind"].items())
        table.add_row(
            "links between different children",
            f"{figures['false_links']}" + (f" ({kinds})" if kinds else ""),
            f"{'✓' if met['false_links'] else '✗'} = 0",
        )
        table.add_row("twin children in the feed", str(figures["twin_children_in_feed"]), "")
        table.add_row(
            "households with two children in the feed",
            str(figures["households_with_two_children_in_feed"]),
            "",
        )
        table.add_row("same-child reviews for a person", str(figures["same_child_reviews"]), "")
        table.add_row("linking time (all events)", f"{figures['link_seconds']} s", "")
        Console().print(table)
