"""The returns' figures in the console (issue 21): ``/returns`` for a local authority and
a period, month by month, with charts drawn on the server, and ``/returns.csv`` (the
same as ``relay returns figures --csv``). An MSET chair picks any authority; an RHI
worker sees their own. The figures are counts: no child is named, nothing restricted is
read; the CSV export is audited all the same, as every export is."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from schemas.identifiers import validate_gss_code
from services.console import audit, returns_queries
from services.console.accounts import Role
from services.console.auth import allowed
from services.console.charts import BarChart, grouped_bars
from services.console.days import LONDON
from services.console.rendering import render
from services.console.returns import BUCKETS, ReturnsFigures, csv_header, csv_rows
from services.console.sessions import SignedIn
from services.console.state import state

router = APIRouter(include_in_schema=False)
Viewer = Annotated[SignedIn, Depends(allowed(Role.MSET_CHAIR, Role.RHI_WORKER))]
MAX_DAYS = 3 * 366  # three years of months: a page still readable


class PeriodError(ValueError):
    """The authority or dates asked for cannot be read; the message says which."""


@dataclass(frozen=True)
class Asked:
    la: str | None
    since: date
    until: date


def asked(who: SignedIn, now: datetime, la: str, since: str, until: str) -> Asked:
    """The authority (an RHI worker's own) and the period, by default the last 12 months
    to today."""
    today = now.astimezone(LONDON).date()
    if who.user.role is Role.RHI_WORKER:
        chosen: str | None = who.user.la_code
    elif la.strip():
        try:
            chosen = validate_gss_code(la.strip().upper())
        except ValueError as exc:
            raise PeriodError(f"Authority: {exc}") from None
    else:
        chosen = None
    try:
        end = date.fromisoformat(until) if until else today
        start = (
            date.fromisoformat(since)
            if since
            else (end.replace(day=1) - timedelta(days=335)).replace(day=1)
        )
    except ValueError:
        raise PeriodError("From and to: dates as YYYY-MM-DD, e.g. 2026-04-01.") from None
    if start > end:
        raise PeriodError("From: on or before to.")
    if (end - start).days > MAX_DAYS:
        raise PeriodError("From and to: at most three years apart.")
    return Asked(chosen, start, end)


async def _figures(request: Request, question: Asked) -> ReturnsFigures | None:
    if question.la is None:
        return None
    async with state(request).db.transaction() as session:
        return await returns_queries.returns_figures(
            session, question.la, question.since, question.until
        )


def charts(f: ReturnsFigures) -> list[BarChart]:
    months = [p.month or "" for p in f.months]
    return [
        grouped_bars(
            "Missing episodes and distinct children, by month the episode began",
            months,
            [
                ("Episodes", [p.episodes for p in f.months]),
                ("Children", [p.children for p in f.months]),
            ],
        ),
        grouped_bars(
            "Return home interviews, by month of return",
            months,
            [
                ("Due", [p.rhi.due for p in f.months]),
                ("Offered within 72 hours", [p.rhi.offered_within_72h for p in f.months]),
                ("Completed within 72 hours", [p.rhi.completed_within_72h for p in f.months]),
                ("Declined", [p.rhi.declined for p in f.months]),
            ],
        ),
        grouped_bars(
            "Looked-after children's episodes, by month",
            months,
            [
                ("Episodes", [p.looked_after_episodes for p in f.months]),
                ("Children", [p.looked_after_children for p in f.months]),
                ("Placed outside the authority", [p.placed_out_children for p in f.months]),
            ],
        ),
        grouped_bars(
            "Children by how many episodes they had in the period",
            [f"{name} episode{'s' if name != '1' else ''}" for name, _, _ in BUCKETS],
            [("Children", [f.total.episodes_per_child[name] for name, _, _ in BUCKETS])],
        ),
    ]


async def _authorities(request: Request) -> list[tuple[str, str]]:
    """Every local authority the console has alerted, for the chair's choice."""
    async with state(request).db.transaction() as session:
        return await returns_queries.alerted_authorities(session)


@router.get("/returns", response_class=HTMLResponse)
async def returns_page(
    request: Request,
    who: Viewer,
    la: Annotated[str, Query(max_length=20)] = "",
    since: Annotated[str, Query(alias="from", max_length=20)] = "",
    until: Annotated[str, Query(alias="to", max_length=20)] = "",
) -> Response:
    error, result, question = None, None, None
    try:
        question = asked(who, state(request).now(), la, since, until)
        result = await _figures(request, question)
    except PeriodError as exc:
        error = str(exc)
    return render(
        request,
        "returns.html",
        {
            "error": error,
            "asked": question,
            "form": {"la": la, "from": since, "to": until},
            "figures": result,
            "charts": charts(result) if result else [],
            "authorities": await _authorities(request) if who.user.role is Role.MSET_CHAIR else [],
            "can_choose": who.user.role is Role.MSET_CHAIR,
            "buckets": [name for name, _, _ in BUCKETS],
        },
        status_code=400 if error else 200,
    )


def figures_csv(f: ReturnsFigures) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(csv_header())
    writer.writerows(csv_rows(f))
    return out.getvalue()


@router.get("/returns.csv")
async def returns_csv(
    request: Request,
    who: Viewer,
    la: Annotated[str, Query(max_length=20)] = "",
    since: Annotated[str, Query(alias="from", max_length=20)] = "",
    until: Annotated[str, Query(alias="to", max_length=20)] = "",
) -> Response:
    try:
        question = asked(who, state(request).now(), la, since, until)
    except PeriodError as exc:
        return Response(f"{exc}\n", status_code=400, media_type="text/plain; charset=utf-8")
    result = await _figures(request, question)
    if result is None:
        return Response("Authority: choose one.\n", status_code=400, media_type="text/plain")
    async with state(request).db.transaction() as session:
        await audit.record(
            session,
            who,
            "returns-export",
            f"{result.la} {result.since}..{result.until}",
            state(request).now(),
        )
    name = f"returns-{result.la}-{result.since}-{result.until}.csv"
    return Response(
        figures_csv(result),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
