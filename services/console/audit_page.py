"""The audit page (DESIGN §8): an ``admin`` reads the console's audit, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.console.accounts import Role
from services.console.audit import latest
from services.console.auth import allowed
from services.console.rendering import render
from services.console.state import state

router = APIRouter(include_in_schema=False)
PAGE = 100


@router.get(
    "/admin/audit",
    response_class=HTMLResponse,
    dependencies=[Depends(allowed(Role.ADMIN))],
)
async def audit_page(
    request: Request, page: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> Response:
    async with state(request).db.transaction() as session:
        rows = await latest(session, PAGE + 1, (page - 1) * PAGE)
    return render(
        request,
        "audit.html",
        {"rows": rows[:PAGE], "page": page, "has_next": len(rows) > PAGE},
    )
