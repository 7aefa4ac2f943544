"""The console's episode pages and its small JSON API (DESIGN §8).

Each page names the roles that may open it (``auth.allowed``); a child appears by
initials and year of birth only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.episode import EventType, RiskGrade
from services.console import panel_pages, panel_store, repository
from services.console.accounts import Role
from services.console.auth import allowed
from services.console.rendering import not_found
from services.console.repository import EpisodeView
from services.console.state import state
from services.console.stream_filters import StreamFilters, parse_filters

PAGE_SIZE = 50
REFRESH_MS = 1000  # how often the live stream looks for changes
SSE_LIFETIME_S = 300
FILTER_FIELDS = ("since", "until", "force", "la", "grade", "factor", "event")

Page = Annotated[int, Query(ge=1, le=100_000, description="1-based page number")]


@dataclass(frozen=True)
class Paging:
    page: int
    size: int
    has_next: bool

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def _paged(items: list[Any], page: int, size: int) -> tuple[list[Any], Paging]:
    """``items`` was fetched with one row more than a page, to know if a next page exists."""
    return items[:size], Paging(page, size, len(items) > size)


router = APIRouter()
CHAIR = [Depends(allowed(Role.MSET_CHAIR))]
OPERATORS = [Depends(allowed(Role.MSET_CHAIR, Role.ADMIN))]  # no child's details shown


@router.get("/", response_class=HTMLResponse, dependencies=CHAIR)
async def stream_page(request: Request, page: Page = 1) -> HTMLResponse:
    filters, problems = parse_filters(request.query_params)
    counts, views, paging = await _stream(request, page, filters)
    async with state(request).db.transaction() as session:
        # The chair's home page: the panel's actions past their due date (issue 20).
        overdue = await panel_store.overdue_actions(session, panel_pages.today(request))
        owners = await panel_pages.organisations(session) if overdue else {}
    return state(request).templates.TemplateResponse(
        request,
        "stream.html",
        {
            "overdue_actions": overdue,
            "owners": owners,
            "counts": counts,
            "views": views,
            "paging": paging,
            "filters": filters,
            "problems": problems,
            "form": {k: request.query_params.get(k, "") for k in FILTER_FIELDS},
            "grades": list(RiskGrade),
            "event_types": list(EventType),
        },
    )


async def _stream(
    request: Request, page: int, filters: StreamFilters
) -> tuple[repository.Counts, list[EpisodeView], Paging]:
    size = state(request).page_size
    async with state(request).db.transaction() as session:
        counts = await repository.count_all(session)
        views = await repository.episode_page(session, size + 1, (page - 1) * size, filters)
    views, paging = _paged(views, page, size)
    return counts, views, paging


async def _fragment(request: Request, page: int, filters: StreamFilters) -> str:
    counts, views, paging = await _stream(request, page, filters)
    template = state(request).templates.get_template("_stream.html")
    return template.render(
        request=request, counts=counts, views=views, paging=paging, filters=filters
    )


@router.get(
    "/fragments/stream", response_class=HTMLResponse, include_in_schema=False, dependencies=CHAIR
)
async def stream_fragment(request: Request, page: Page = 1) -> HTMLResponse:
    """The part of ``/`` that changes (for a browser without server-sent events)."""
    filters, _problems = parse_filters(request.query_params)
    return HTMLResponse(await _fragment(request, page, filters))


@router.get("/events/stream", include_in_schema=False, dependencies=CHAIR)
async def stream_events(request: Request, page: Page = 1) -> StreamingResponse:
    """Server-sent events: the stream's table, with the page's filters, each time it
    changes (looked for every ``refresh_ms``). A connection lasts a few minutes at
    most; the browser's EventSource reconnects by itself, and a stopping console is
    not held up for long."""
    filters, _problems = parse_filters(request.query_params)
    interval = state(request).refresh_ms / 1000

    async def changes() -> AsyncIterator[str]:
        yield f"retry: {int(interval * 1000)}\n\n"
        last = None
        ends = asyncio.get_running_loop().time() + state(request).sse_lifetime_s
        while asyncio.get_running_loop().time() < ends and not await request.is_disconnected():
            html = await _fragment(request, page, filters)
            if html != last:
                last = html
                data = "".join(f"data: {line}\n" for line in html.splitlines())
                yield f"event: stream\n{data}\n"
            else:
                yield ": still here\n\n"  # keeps proxies from closing an idle connection
            await asyncio.sleep(interval)

    return StreamingResponse(
        changes(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/episodes/{force_code}/{episode_ref:path}", response_class=HTMLResponse, dependencies=CHAIR
)
async def episode_page(request: Request, force_code: str, episode_ref: str) -> HTMLResponse:
    async with state(request).db.transaction() as session:
        view = await repository.episode(session, force_code, episode_ref)
    if view is None:
        return not_found(
            request,
            "No such episode yet",
            f"Nothing has arrived for episode {force_code} / {episode_ref}. "
            "If it was reported moments ago, refresh in a few seconds.",
        )
    return state(request).templates.TemplateResponse(request, "episode.html", {"view": view})


@router.get("/alerts/{alert_id}", response_class=HTMLResponse, dependencies=CHAIR)
async def alert_page(request: Request, alert_id: str) -> HTMLResponse:
    """Where the notifier's emails link to ("view in the console")."""
    async with state(request).db.transaction() as session:
        found = await repository.alert(session, alert_id)
        view = None
        if found is not None:
            force_code, _, ref = found[0]["episode_key"].partition(":")
            view = await repository.episode(session, force_code, ref)
    if found is None:
        return not_found(
            request,
            "Alert not found",
            "This alert has not reached the console yet, or the link is wrong. "
            "If the email arrived moments ago, refresh in a few seconds.",
        )
    alert, history = found
    return state(request).templates.TemplateResponse(
        request,
        "alert.html",
        {"alert": alert, "history": history, "view": view},
    )


@router.get(
    "/help",
    response_class=HTMLResponse,
    dependencies=[Depends(allowed(Role.MSET_CHAIR, Role.RHI_WORKER, Role.MASH, Role.ADMIN))],
)
async def help_page(request: Request) -> HTMLResponse:
    """What the states, answers and withdrawals mean (every role)."""
    return state(request).templates.TemplateResponse(request, "help.html", {})


@router.get("/dead-letters", response_class=HTMLResponse, dependencies=OPERATORS)
async def dead_letters_page(request: Request, page: Page = 1) -> HTMLResponse:
    return await _listing(request, page, repository.dead_letter_page, "dead_letters.html")


@router.get("/rejects", response_class=HTMLResponse, dependencies=OPERATORS)
async def rejects_page(request: Request, page: Page = 1) -> HTMLResponse:
    return await _listing(request, page, repository.reject_page, "rejects.html")


async def _listing(
    request: Request,
    page: int,
    fetch: Callable[[AsyncSession, int, int], Awaitable[list[Any]]],
    template: str,
) -> HTMLResponse:
    """A paginated table page with the count bar."""
    size = state(request).page_size
    async with state(request).db.transaction() as session:
        counts = await repository.count_all(session)
        rows = await fetch(session, size + 1, (page - 1) * size)
    rows, paging = _paged(rows, page, size)
    return state(request).templates.TemplateResponse(
        request, template, {"counts": counts, "rows": rows, "paging": paging}
    )


@router.get("/api/episodes", dependencies=CHAIR)
async def episodes_api(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE_SIZE,
    page: Page = 1,
) -> JSONResponse:
    """The stream as JSON, newest first, with the page's filters: the same facts as
    ``/``, for tests and tools."""
    filters, problems = parse_filters(request.query_params)
    if problems:
        return JSONResponse(
            {"detail": [{"field": f, "message": m} for f, m in problems]}, status_code=400
        )
    async with state(request).db.transaction() as session:
        counts = await repository.count_all(session)
        views = await repository.episode_page(session, limit + 1, (page - 1) * limit, filters)
    views, paging = _paged(views, page, limit)
    return JSONResponse(
        {
            "page": paging.page,
            "limit": paging.size,
            "has_next": paging.has_next,
            "counts": asdict(counts),
            "episodes": [episode_json(view) for view in views],
        }
    )


def episode_json(view: EpisodeView) -> dict[str, Any]:
    e = view.episode
    return {
        "force_code": e["force_code"],
        "episode_ref": e["episode_ref"],
        "child": {"initials": e["initials"], "birth_year": e["birth_year"]},
        "risk_grade": e["risk_grade"],
        "latest_event": {"type": e["latest_event_type"], "occurred_at": _iso(e["latest_event_at"])},
        "events": [
            {
                "event_id": ev["event_id"],
                "type": ev["type"],
                "occurred_at": _iso(ev["occurred_at"]),
                "risk_grade": ev["risk_grade"],
            }
            for ev in view.events
        ],
        "alerts": [
            {
                "alert_id": a["alert_id"],
                "kind": a["kind"],
                "recipient": {
                    "kind": a["recipient_kind"],
                    "code": a["recipient_code"],
                    "name": a["recipient_name"],
                },
                "state": a["state"] or "requested",
                "state_at": _iso(a["state_at"]),
                "requested_at": _iso(a["requested_at"]),
            }
            for a in view.alerts
        ],
        "rhi_tasks": [
            {
                "task_id": t["task_id"],
                "authority_code": t["authority_code"],
                "state": t["state"] or "requested",
                "due_at": _iso(t["due_at"]),
            }
            for t in view.rhi_tasks
        ],
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
