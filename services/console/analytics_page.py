"""The partnership's figures page (issue 20): ``/analytics`` for a date range and an
authority, each figure a chart, a table and a CSV (``/analytics.csv?figure=…``). An MSET
chair sees every authority (or one, ``la``); an RHI worker their own authority only.
Counts, never a child: nothing here is a view of a child's record."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.console.accounts import Role
from services.console.analytics_store import authorities, load
from services.console.auth import allowed
from services.console.days import date_range
from services.console.rendering import not_found, render
from services.console.sessions import SignedIn
from services.console.state import state

router = APIRouter(include_in_schema=False)
DEFAULT_DAYS = 365
Viewer = Annotated[SignedIn, Depends(allowed(Role.MSET_CHAIR, Role.RHI_WORKER))]
Day = Annotated[date | None, Query()]
Authority = Annotated[str | None, Query(max_length=9)]


def _scope(who: SignedIn, la: str | None) -> str | None:
    """An RHI worker's figures are their own authority's, whatever they ask."""
    return who.user.la_code if who.user.role is Role.RHI_WORKER else (la or None)


@router.get("/analytics", response_class=HTMLResponse)
async def analytics_page(
    request: Request, who: Viewer, since: Day = None, until: Day = None, la: Authority = None
) -> Response:
    now: datetime = state(request).now()
    since, until = date_range(now, since, until, DEFAULT_DAYS)
    scope = _scope(who, la)
    async with state(request).db.transaction() as session:
        figures = await load(session, since, until, scope, state(request).repeat_rule)
        known = await authorities(session) if who.user.role is Role.MSET_CHAIR else []
    return render(
        request,
        "analytics.html",
        {"a": figures, "la": scope, "authorities": known, "rule": state(request).repeat_rule},
    )


@router.get("/analytics.csv")
async def analytics_csv(
    request: Request,
    who: Viewer,
    figure: Annotated[str, Query(max_length=40)],
    since: Day = None,
    until: Day = None,
    la: Authority = None,
) -> Response:
    now: datetime = state(request).now()
    since, until = date_range(now, since, until, DEFAULT_DAYS)
    scope = _scope(who, la)
    async with state(request).db.transaction() as session:
        figures = await load(session, since, until, scope, state(request).repeat_rule)
    chosen = figures.figure(figure)
    if chosen is None:
        return not_found(request, "No such figure", f"The figures have no {figure!r}.")
    name = f"{chosen.name}-{since}-{until}" + (f"-{scope}" if scope else "")
    return Response(
        chosen.csv(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}.csv"',
            "Cache-Control": "no-store",
        },
    )
