"""The MSET meeting pack (DESIGN §8): for a date range, the repeat-missing watchlist and,
for each child on it, their episodes in the range (how long missing, risk, where found
and who with), return home interview outcomes and links to other children; a printable
page (the browser's print gives a clean document) and the same as CSV. Both name
children: each view and each export is audited."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.console import audit, panel_store, repository
from services.console.accounts import Role
from services.console.auth import allowed
from services.console.children import EpisodeLine, duration, episode_line
from services.console.days import date_range, day_after, day_start
from services.console.network import Link, Node, events_between, network
from services.console.panel import Action, ChildReview
from services.console.rendering import render
from services.console.repository import EpisodeView
from services.console.sessions import SignedIn
from services.console.state import state
from services.console.tables import episodes
from services.console.watchlist import RepeatRule, Watched, watchlist

router = APIRouter(include_in_schema=False)
DEFAULT_DAYS = 31
Chair = Annotated[SignedIn, Depends(allowed(Role.MSET_CHAIR))]
CSV_COLUMNS = (
    "child",
    "date_of_birth",
    "authority",
    "episodes_in_window",
    "episode",
    "reported",
    "missing_for",
    "risk_grade",
    "risk_factors",
    "found",
    "rhi",
    "linked_with",
    "panel_decision",
    "panel_risk_view",
    "open_actions",
)


@dataclass(frozen=True)
class PackChild:
    watched: Watched
    name: str
    date_of_birth: date | None
    lines: list[EpisodeLine]  # episodes in the range, newest first
    links: list[tuple[str, Link]]  # the other child's name, and the link
    # The panel's last decision about the child and its open actions (issue 20).
    last_review: ChildReview | None = None
    open_actions: list[Action] = field(default_factory=list)


@dataclass(frozen=True)
class Pack:
    since: date
    until: date
    rule: RepeatRule
    children: list[PackChild]


async def build_pack(session: AsyncSession, rule: RepeatRule, since: date, until: date) -> Pack:
    start, end = day_start(since), day_after(until)
    watched = await watchlist(session, rule, end)
    events = (await session.execute(events_between(start, end))).mappings().all()
    nodes, links = network(events)
    rows = (
        (
            await session.execute(
                select(episodes)
                .where(
                    episodes.c.child_id.in_([w.child_id for w in watched]),
                    episodes.c.latest_event_at >= start,
                    episodes.c.first_event_at < end,
                    episodes.c.withdrawn_at.is_(None),
                )
                .order_by(episodes.c.latest_event_at.desc())
            )
        )
        .mappings()
        .all()
    )
    ids = [w.child_id for w in watched]
    reviews = await panel_store.last_reviews(session, ids)
    actions = await panel_store.open_actions(session, ids)
    views_of: dict[str, list[EpisodeView]] = {}
    for view in await repository.with_details(session, rows):
        views_of.setdefault(view.episode["child_id"], []).append(view)
    children = []
    for w in watched:
        views = views_of.get(w.child_id, [])
        first = views[0].episode if views else None
        children.append(
            PackChild(
                watched=w,
                name=f"{first['given_name']} {first['family_name']}" if first else "",
                date_of_birth=first["date_of_birth"] if first else None,
                lines=[episode_line(v) for v in views],
                links=_links_of(w.child_id, nodes, links),
                last_review=reviews.get(w.child_id),
                open_actions=actions.get(w.child_id, []),
            )
        )
    return Pack(since, until, rule, children)


def _links_of(key: str, nodes: dict[str, Node], links: list[Link]) -> list[tuple[str, Link]]:
    return [
        (nodes[link.b if link.a == key else link.a].name, link)
        for link in links
        if key in (link.a, link.b)
    ]


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run: a leading =, +, - or @ is quoted away."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def pack_csv(pack: Pack) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for c in pack.children:
        linked = "; ".join(
            f"{name} ({link.together} together, {link.same_place} same place)"
            for name, link in c.links
        )
        lines: list[EpisodeLine | None] = [*c.lines] or [None]  # a child's row, at least
        for line in lines:
            e = line.view.episode if line else None
            writer.writerow(
                [
                    _cell(v)
                    for v in (
                        c.name,
                        c.date_of_birth.isoformat() if c.date_of_birth else "",
                        c.watched.responsible_la,
                        c.watched.episodes,
                        f"{e['force_code']}/{e['episode_ref']}" if e else "",
                        e["first_event_at"].isoformat() if e and e["first_event_at"] else "",
                        ("still missing" if line.still_missing else duration(line.missing_for))
                        if line
                        else "",
                        e["risk_grade"] if e else "",
                        ",".join(line.factors) if line else "",
                        "; ".join(
                            f"{f['place']}" + (f" with {', '.join(f['with'])}" if f["with"] else "")
                            for f in line.found
                        )
                        if line
                        else "",
                        "; ".join(t["state"] or "open" for t in line.view.rhi_tasks)
                        if line
                        else "",
                        linked,
                        c.last_review.decision if c.last_review else "",
                        c.last_review.risk_view if c.last_review else "",
                        "; ".join(
                            f"{a.text} ({a.owner_code}, due {a.due_on.isoformat()})"
                            for a in c.open_actions
                        ),
                    )
                ]
            )
    return out.getvalue()


async def _pack(
    request: Request, who: SignedIn, since: date | None, until: date | None, export: bool
) -> Pack:
    """The pack for the range asked (the last month by default), audited as a view or
    an export."""
    now = state(request).now()
    since, until = date_range(now, since, until, DEFAULT_DAYS)
    async with state(request).db.transaction() as session:
        pack = await build_pack(session, state(request).repeat_rule, since, until)
        await audit.record(
            session,
            who,
            "export-meeting-pack" if export else "view-meeting-pack",
            f"{since}..{until}",
            now,
            f"{len(pack.children)} child(ren)" + (", CSV" if export else ""),
        )
    return pack


Since = Annotated[date | None, Query()]


@router.get("/meeting-pack", response_class=HTMLResponse)
async def meeting_pack(
    request: Request, who: Chair, since: Since = None, until: Since = None
) -> Response:
    pack = await _pack(request, who, since, until, export=False)
    return render(
        request,
        "meeting_pack.html",
        {"pack": pack, "duration": duration, "printed": state(request).now()},
    )


@router.get("/meeting-pack.csv")
async def meeting_pack_csv(
    request: Request, who: Chair, since: Since = None, until: Since = None
) -> Response:
    pack = await _pack(request, who, since, until, export=True)
    return Response(
        pack_csv(pack),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (
                f'attachment; filename="meeting-pack-{pack.since}-{pack.until}.csv"'
            ),
            "Cache-Control": "no-store",
        },
    )
