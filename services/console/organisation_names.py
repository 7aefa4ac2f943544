"""Organisations by their names, not their codes (issue 23): "Northumberland County
Council", not "E06000057".

The console keeps no directory (the router owns it), but every alert and RHI task it
has read names its organisation, so the names it has seen are enough to label its
pages. A loop reads them again every :data:`REFRESH_S`; a code not seen yet shows as
itself. Pages read the names through the template function ``organisation(code)``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from services.console.tables import alerts, identity_reviews, rhi_tasks
from services.runtime.database import Database

log = logging.getLogger(__name__)
REFRESH_S = 30.0


class OrganisationNames:
    """Code -> name of every organisation the read model names."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}

    def __call__(self, code: str | None) -> str:
        """The organisation's name; its code while no message has named it; "—" for none."""
        if not code:
            return "—"
        return self._names.get(code, code)

    def known(self) -> dict[str, str]:
        """Every organisation named so far, code -> name (the panel's owner list)."""
        return dict(self._names)

    def update(self, names: dict[str, str]) -> None:
        self._names = {**self._names, **names}

    async def read(self, session: AsyncSession) -> None:
        seen = union_all(
            select(alerts.c.recipient_code, func.max(alerts.c.recipient_name))
            .where(alerts.c.recipient_name.is_not(None))
            .group_by(alerts.c.recipient_code),
            select(rhi_tasks.c.authority_code, func.max(rhi_tasks.c.authority_name))
            .where(rhi_tasks.c.authority_name.is_not(None))
            .group_by(rhi_tasks.c.authority_code),
        )
        rows: list[tuple[str | None, str | None]] = [
            (code, name) for code, name in (await session.execute(seen)).all()
        ]
        # An organisation whose alert waits for an identity review has had no alert yet:
        # the review's candidates name it.
        for (candidates,) in await session.execute(
            select(identity_reviews.c.candidates).where(identity_reviews.c.decision.is_(None))
        ):
            rows += [(c.get("org_code"), c.get("org_name")) for c in json.loads(candidates or "[]")]
        self.update({code: name for code, name in rows if code and name and name != code})


def refresh_loop(
    db: Database, names: OrganisationNames, interval_s: float = REFRESH_S
) -> Callable[[], Awaitable[None]]:
    """A service loop (ServiceRuntime.loops): read the names at start, then every
    ``interval_s`` (directories change seldom; a new organisation shows within it)."""

    async def organisation_names() -> None:
        while True:
            async with db.transaction() as session:
                await names.read(session)
            await asyncio.sleep(interval_s)

    return organisation_names
