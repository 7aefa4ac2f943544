"""The repeat-missing watchlist (DESIGN §8): children with at least the policy's number
of episodes within its window (``[routing] repeat_threshold`` and
``repeat_window_days``, the rule the router flags to the MSET panel), exploitation
factors first, then high risk, then the most episodes. Names stay on each child's
timeline (audited): the list shows initials and year of birth."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from services.console.accounts import Role
from services.console.auth import allowed
from services.console.child_store import watchlist
from services.console.rendering import render
from services.console.repeat_missing import RepeatRule
from services.console.state import state

router = APIRouter(include_in_schema=False)


@router.get(
    "/watchlist", response_class=HTMLResponse, dependencies=[Depends(allowed(Role.MSET_CHAIR))]
)
async def watchlist_page(request: Request) -> Response:
    rule: RepeatRule = state(request).repeat_rule
    async with state(request).db.transaction() as session:
        children = await watchlist(session, rule, state(request).now())
    return render(request, "watchlist.html", {"children": children, "rule": rule})
