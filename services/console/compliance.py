"""Return home interview compliance (DESIGN §8, issue 21): of the interviews due each
month, the share done within the 72 hours, and the share offered within them, per local
authority, as a table and a chart drawn on the server (SVG, no script, no CDN). An
interview counts in the month of the child's return; one still open and not yet due is
not counted yet. "Done within 72 hours" is judged from when the interview took place,
not from when it was recorded (services/console/rhi_measures.py): a record entered late
is not late.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from services.console.accounts import Role
from services.console.auth import allowed
from services.console.days import LONDON
from services.console.rendering import render
from services.console.returns_queries import task_facts
from services.console.rhi_measures import DECLINED, NOT_POSSIBLE, TaskFacts
from services.console.sessions import SignedIn
from services.console.state import state

router = APIRouter(include_in_schema=False)
MONTHS_SHOWN = 12


@dataclass
class MonthFigures:
    month: str  # YYYY-MM, of the return
    authority: str
    due: int = 0  # counted: closed, or open past its due time
    in_time: int = 0  # interviewed within 72 hours of the return
    late: int = 0  # interviewed after them
    declined: int = 0
    not_possible: int = 0
    overdue: int = 0  # open past the due time
    offered_in_time: int = 0  # offered within 72 hours of the return

    @property
    def share(self) -> float | None:
        return self.in_time / self.due if self.due else None

    @property
    def offered_share(self) -> float | None:
        return self.offered_in_time / self.due if self.due else None


def figures(tasks: Iterable[TaskFacts], now: datetime) -> list[MonthFigures]:
    """Per (month, authority), newest month first."""
    table: dict[tuple[str, str], MonthFigures] = {}
    for task in tasks:
        if not task.counted(now):
            continue  # not due yet: neither done nor late
        month = task.returned_at.astimezone(LONDON).strftime("%Y-%m")
        authority = task.authority_name or task.authority_code
        row = table.setdefault((month, authority), MonthFigures(month, authority))
        row.due += 1
        row.offered_in_time += task.offered and task.offered_in_time
        result = task.result
        if result == "completed":
            if task.completed_in_time:
                row.in_time += 1
            else:
                row.late += 1
        elif result == DECLINED:
            row.declined += 1
        elif result == NOT_POSSIBLE:
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
    la = who.user.la_code if who.user.role is Role.RHI_WORKER else None
    async with state(request).db.transaction() as session:
        tasks = await task_facts(session, la)
    rows = figures(tasks, state(request).now())
    return render(request, "compliance.html", {"rows": rows, "chart": chart(rows)})
