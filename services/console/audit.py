"""The console's audit (DESIGN §8): every view of a child's record and every export is
recorded (who, what, when) in the same transaction as the read it records, and an
``admin`` reads them here, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.console.accounts import Role
from services.console.auth import allowed
from services.console.rendering import render
from services.console.sessions import SignedIn
from services.console.state import state
from services.console.tables import audit, audit_chains
from services.runtime import audit_chain

router = APIRouter(include_in_schema=False)
PAGE = 100


async def record(
    session: AsyncSession,
    who: SignedIn,
    action: str,
    subject: str,
    at: datetime,
    detail: str | None = None,
) -> None:
    """One audit row; ``subject`` names what was seen by id (a child key, an episode,
    a date range), never by the child's name."""
    await record_as(session, who.user.username, who.user.role.value, action, subject, at, detail)


async def record_as(
    session: AsyncSession,
    username: str,
    role: str,
    action: str,
    subject: str,
    at: datetime,
    detail: str | None = None,
) -> None:
    """:func:`record` for someone not signed in to the console (``relay`` commands)."""
    await audit_chain.append(
        session,
        audit_chains,
        audit,
        {
            "at": at,
            "username": username[:63],
            "role": role[:20],
            "action": action[:40],
            "subject": subject[:300],
            "detail": detail[:500] if detail else None,
        },
    )


@router.get(
    "/admin/audit",
    response_class=HTMLResponse,
    dependencies=[Depends(allowed(Role.ADMIN))],
)
async def audit_page(
    request: Request, page: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> Response:
    async with state(request).db.transaction() as session:
        rows = (
            (
                await session.execute(
                    select(audit)
                    .order_by(audit.c.seq.desc())
                    .limit(PAGE + 1)
                    .offset((page - 1) * PAGE)
                )
            )
            .mappings()
            .all()
        )
    return render(
        request,
        "audit.html",
        {"rows": rows[:PAGE], "page": page, "has_next": len(rows) > PAGE},
    )
