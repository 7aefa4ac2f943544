"""Links between children (DESIGN §8): children found together, or found at the same
place within a week of each other, in a period, drawn as a network (server-side SVG)
with, for each link, who, how often, where, and the episodes behind it. A person named
in ``found_with`` is the known child of the same name and date of birth (or, without a
date, of the same name when only one child has it); otherwise they appear as a person
the console does not know. The page names children, so each view is audited."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.console import audit, child_store
from services.console.accounts import Role
from services.console.auth import allowed
from services.console.child_network import DRAWN, LISTED, layout, network
from services.console.days import date_range, day_after, day_start
from services.console.rendering import render
from services.console.sessions import SignedIn
from services.console.state import state

router = APIRouter(include_in_schema=False)
DEFAULT_DAYS = 90


@router.get("/network", response_class=HTMLResponse)
async def network_page(
    request: Request,
    who: Annotated[SignedIn, Depends(allowed(Role.MSET_CHAIR))],
    since: Annotated[date | None, Query()] = None,
    until: Annotated[date | None, Query()] = None,
) -> Response:
    now: datetime = state(request).now()
    since, until = date_range(now, since, until, DEFAULT_DAYS + 1)
    start, end = day_start(since), day_after(until)
    async with state(request).db.transaction() as session:
        events = await child_store.standing_events_between(session, start, end)
        nodes, links = network(events)
        await audit.record(
            session, who, "view-network", f"{since}..{until}", now, f"{len(links)} link(s)"
        )
    return render(
        request,
        "network.html",
        {
            "nodes": nodes,
            "links": links[:LISTED],
            "more": max(0, len(links) - LISTED),
            "drawn": min(len(links), DRAWN),
            "drawing": layout(nodes, links),
            "since": since,
            "until": until,
        },
    )
