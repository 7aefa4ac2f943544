"""The console's pages and its small JSON API (DESIGN §8, first slice).

No login yet: a child appears by initials and year of birth only, and nothing else
identifying is held or shown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from services.console import repository
from services.console.repository import EpisodeView
from services.runtime.database import Database

PAGE_SIZE = 50
REFRESH_MS = 2000

Page = Annotated[int, Query(ge=1, le=100_000, description="1-based page number")]


@dataclass(frozen=True)
class Paging:
    page: int
    size: int
    has_next: bool

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def _db(request: Request) -> Database:
    return request.app.state.runtime.db  # type: ignore[no-any-return]


def _templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates  # type: ignore[no-any-return]


def _size(request: Request) -> int:
    return int(request.app.state.page_size)


def _paged(items: list[Any], page: int, size: int) -> tuple[list[Any], Paging]:
    """``items`` was fetched with one row more than a page, to know if a next page exists."""
    return items[:size], Paging(page, size, len(items) > size)


router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def stream_page(request: Request, page: Page = 1) -> HTMLResponse:
    size = _size(request)
    async with _db(request).transaction() as session:
        counts = await repository.count_all(session)
        views = await repository.episode_page(session, size + 1, (page - 1) * size)
    views, paging = _paged(views, page, size)
    return _templates(request).TemplateResponse(
        request,
        "stream.html",
        {
            "counts": counts,
            "views": views,
            "paging": paging,
            "refresh_ms": request.app.state.refresh_ms,
        },
    )


@router.get("/fragments/stream", response_class=HTMLResponse, include_in_schema=False)
async def stream_fragment(request: Request, page: Page = 1) -> HTMLResponse:
    """The part of ``/`` the page's script re-fetches every couple of seconds."""
    size = _size(request)
    async with _db(request).transaction() as session:
        counts = await repository.count_all(session)
        views = await repository.episode_page(session, size + 1, (page - 1) * size)
    views, paging = _paged(views, page, size)
    return _templates(request).TemplateResponse(
        request,
        "_stream.html",
        {"counts": counts, "views": views, "paging": paging},
    )


@router.get("/episodes/{force_code}/{episode_ref:path}", response_class=HTMLResponse)
async def episode_page(request: Request, force_code: str, episode_ref: str) -> HTMLResponse:
    async with _db(request).transaction() as session:
        view = await repository.episode(session, force_code, episode_ref)
    if view is None:
        return _not_found(
            request,
            "No such episode yet",
            f"Nothing has arrived for episode {force_code} / {episode_ref}. "
            "If it was reported moments ago, refresh in a few seconds.",
        )
    return _templates(request).TemplateResponse(request, "episode.html", {"view": view})


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
async def alert_page(request: Request, alert_id: str) -> HTMLResponse:
    """Where the notifier's emails link to ("view in the console")."""
    async with _db(request).transaction() as session:
        found = await repository.alert(session, alert_id)
        view = None
        if found is not None:
            force_code, _, ref = found[0]["episode_key"].partition(":")
            view = await repository.episode(session, force_code, ref)
    if found is None:
        return _not_found(
            request,
            "Alert not found",
            "This alert has not reached the console yet, or the link is wrong. "
            "If the email arrived moments ago, refresh in a few seconds.",
        )
    alert, history = found
    return _templates(request).TemplateResponse(
        request,
        "alert.html",
        {"alert": alert, "history": history, "view": view},
    )


@router.get("/dead-letters", response_class=HTMLResponse)
async def dead_letters_page(request: Request, page: Page = 1) -> HTMLResponse:
    return await _listing(request, page, repository.dead_letter_page, "dead_letters.html")


@router.get("/rejects", response_class=HTMLResponse)
async def rejects_page(request: Request, page: Page = 1) -> HTMLResponse:
    return await _listing(request, page, repository.reject_page, "rejects.html")


async def _listing(
    request: Request,
    page: int,
    fetch: Callable[[AsyncSession, int, int], Awaitable[list[Any]]],
    template: str,
) -> HTMLResponse:
    """A paginated table page with the count bar."""
    size = _size(request)
    async with _db(request).transaction() as session:
        counts = await repository.count_all(session)
        rows = await fetch(session, size + 1, (page - 1) * size)
    rows, paging = _paged(rows, page, size)
    return _templates(request).TemplateResponse(
        request, template, {"counts": counts, "rows": rows, "paging": paging}
    )


@router.get("/api/episodes")
async def episodes_api(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE_SIZE,
    page: Page = 1,
) -> JSONResponse:
    """The stream as JSON, newest first: the same facts as ``/``, for tests and tools."""
    async with _db(request).transaction() as session:
        counts = await repository.count_all(session)
        views = await repository.episode_page(session, limit + 1, (page - 1) * limit)
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


def _not_found(request: Request, title: str, text: str) -> HTMLResponse:
    return _templates(request).TemplateResponse(
        request,
        "not_found.html",
        {"title": title, "text": text},
        status_code=404,
    )
