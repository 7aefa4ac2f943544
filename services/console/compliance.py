"""Return home interview compliance (DESIGN §8): of the interviews due each month, the
share done within the 72 hours, per local authority, as a table and a chart drawn on the
server (SVG, no script, no CDN). An interview counts in the month of the child's return;
one still open and not yet due is not counted yet."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from schemas.messages import RhiTaskState
from services.console.accounts import Role
from services.console.auth import allowed
from services.console.days import LONDON
from services.console.rendering import render
from services.console.sessions import SignedIn
from services.console.tables import rhi_tasks

router = APIRouter(include_in_schema=False)
MONTHS_SHOWN = 12
_CLOSED = ("completed", "declined", "not-possible")


@dataclass
class MonthFigures:
    month: str  # YYYY-MM, of the return
    authority: str
    due: int = 0  # counted: closed, or open past its due time
    in_time: int = 0  # completed by the due time
    late: int = 0  # completed after it
    declined: int = 0
    not_possible: int = 0
    overdue: int = 0  # open past the due time

    @property
    def share(self) -> float | None:
        return self.in_time / self.due if self.due else None


def figures(tasks: Iterable[Mapping[str, Any]], now: datetime) -> list[MonthFigures]:
    """Per (month, authority), newest month first."""
    table: dict[tuple[str, str], MonthFigures] = {}
    for task in tasks:
        state = task["state"] or "open"
        if state not in _CLOSED and task["due_at"] > now:
            continue  # not due yet: neither done nor late
        returned = task["returned_at"] or task["due_at"]
        month = returned.astimezone(LONDON).strftime("%Y-%m")
        authority = task["authority_name"] or task["authority_code"]
        row = table.setdefault((month, authority), MonthFigures(month, authority))
        row.due += 1
        if state == "completed":
            if task["state_at"] is not None and task["state_at"] <= task["due_at"]:
                row.in_time += 1
            else:
                row.late += 1
        elif state == "declined":
            row.declined += 1
        elif state == "not-possible":
            row.not_possible += 1
        else:
            row.overdue += 1
    by_authority = sorted(table.values(), key=lambda r: r.authority)
    return sorted(by_authority, key=lambda r: r.month, reverse=True)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    label: str
    month: str
    authority: str
    share: float


def chart(rows: list[MonthFigures], width: int = 720, height: int = 240) -> dict[str, Any]:
    """Bars of the share done in time, months left to right, one colour per authority."""
    months = sorted({r.month for r in rows})[-MONTHS_SHOWN:]
    authorities = sorted({r.authority for r in rows})
    by: defaultdict[str, dict[str, MonthFigures]] = defaultdict(dict)
    for r in rows:
        by[r.month][r.authority] = r
    left, bottom, top = 40, 30, 10
    plot = height - bottom - top
    slot = (width - left) / max(len(months), 1)
    bar = min(slot * 0.8 / max(len(authorities), 1), 48.0)
    group = bar * len(authorities)
    bars = []
    for m, month in enumerate(months):
        for a, authority in enumerate(authorities):
            row = by[month].get(authority)
            if row is None or row.share is None:
                continue
            h = plot * row.share
            bars.append(
                Bar(
                    x=left + m * slot + (slot - group) / 2 + a * bar,
                    y=top + plot - h,
                    height=h,
                    label=f"{authority}, {month}: {row.share:.0%} of {row.due} in time",
                    month=month,
                    authority=authority,
                    share=row.share,
                )
            )
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "bar_width": bar,
        "months": [(left + m * slot + slot / 2, month) for m, month in enumerate(months)],
        "authorities": authorities,
        "grid": [(top + plot * (1 - f), f"{f:.0%}") for f in (0, 0.5, 1)],
        "left": left,
        "base": top + plot,
    }


@router.get("/compliance", response_class=HTMLResponse)
async def compliance_page(
    request: Request, who: SignedIn = Depends(allowed(Role.MSET_CHAIR, Role.RHI_WORKER))
) -> Response:
    # A task of a withdrawn episode was never owed: not in the figures.
    query = select(rhi_tasks).where(rhi_tasks.c.state != RhiTaskState.WITHDRAWN.value)
    if who.user.role is Role.RHI_WORKER:
        query = query.where(rhi_tasks.c.authority_code == who.user.la_code)
    async with request.app.state.runtime.db.transaction() as session:
        tasks = (await session.execute(query)).mappings().all()
    rows = figures(tasks, request.app.state.now())
    return render(request, "compliance.html", {"rows": rows, "chart": chart(rows)})
