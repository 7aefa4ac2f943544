"""The console's audit (DESIGN §8): every view of a child's record and every export is
recorded (who, what, when) in the same transaction as the read it records; an
``admin`` reads them newest first (services/console/audit_page.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.console.sessions import SignedIn
from services.console.tables import audit, audit_chains
from services.runtime import audit_chain


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


async def latest(session: AsyncSession, limit: int, offset: int) -> Sequence[Any]:
    """Audit rows, newest first."""
    return (
        (
            await session.execute(
                select(audit).order_by(audit.c.seq.desc()).limit(limit).offset(offset)
            )
        )
        .mappings()
        .all()
    )
