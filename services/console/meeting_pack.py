"""The MSET meeting pack (DESIGN §8): for a date range, the repeat-missing watchlist and,
for each child on it, their episodes in the range (how long missing, risk, where found
and who with), return home interview outcomes and links to other children; a printable
page (the browser's print gives a clean document) and the same as CSV. Both name
children: each view and each export is audited."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.console import audit, child_store, panel_store
from services.console.accounts import Role
from services.console.auth import allowed
from services.console.child_network import network
from services.console.days import date_range, day_after, day_start
from services.console.episode_view import duration
from services.console.pack_contents import Pack, pack_csv, pack_of
from services.console.rendering import render
from services.console.repeat_missing import RepeatRule
from services.console.sessions import SignedIn
from services.console.state import state

router = APIRouter(include_in_schema=False)
DEFAULT_DAYS = 31
Chair = Annotated[SignedIn, Depends(allowed(Role.MSET_CHAIR))]


async def build_pack(session: AsyncSession, rule: RepeatRule, since: date, until: date) -> Pack:
    start, end = day_start(since), day_after(until)
    watched = await child_store.watchlist(session, rule, end)
    events = await child_store.standing_events_between(session, start, end)
    ids = [w.child_id for w in watched]
    return pack_of(
        since,
        until,
        rule,
        watched,
        await child_store.episodes_between(session, ids, start, end),
        network(events),
        await panel_store.last_reviews(session, ids),
        await panel_store.open_actions(session, ids),
    )


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
