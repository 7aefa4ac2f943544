"""The router keeps the organisations it routes to between events and reads them again
only when the directory's version moved (services/router/directory_cache.py): an
import while the router runs, from another connection as the CLI's, is seen by the next
event; a change that did not move the version is not (the rows are not read again)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select, update

from schemas.catalogue import ALERTS_REQUESTED
from schemas.episode import EpisodeEventV1
from schemas.messages import AlertRequestedV1
from services.router import directory_cache, importing
from services.router.handlers import on_episode_event
from services.router.tables import directory_version, organisations
from services.runtime.database import Database
from services.runtime.migrations import upgrade
from tests.integration.test_router_handler import AT, NLD, FakeOutbox, reported

ORGS = """code,kind,name,email,escalation_email,phone,la_code
{nld},local-authority,Northumberland,{email},,,{nld}
MSET-NLD,mset-panel,MSET,mset@n.example,,,{nld}
"""


def _write(path: Path, email: str) -> Path:
    path.write_text(ORGS.format(nld=NLD, email=email), encoding="utf-8")
    return path


async def _authority_email(db: Database, event: EpisodeEventV1) -> str:
    out = FakeOutbox()
    async with db.transaction() as session:
        await on_episode_event(session, event, out)  # type: ignore[arg-type]
    sent = [m for t, _, m in out.sent if t is ALERTS_REQUESTED]
    emails = {
        a.recipient.email
        for a in sent
        if isinstance(a, AlertRequestedV1) and a.recipient.code == NLD
    }
    assert len(emails) == 1, emails  # the responsible authority is told, at one address
    return emails.pop()


async def _version(db: Database) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(directory_version.c.version)) or 0)


async def test_an_import_is_seen_by_the_next_event(
    database_url: Callable[[str], str], tmp_path: Path
) -> None:
    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url)
    router, cli = Database(url), Database(url)
    try:
        await importing.import_organisations(cli, _write(tmp_path / "a.csv", "mc@n.example"))
        first = await _version(router)
        assert first >= 1
        assert await _authority_email(router, reported("MP/1", AT)) == "mc@n.example"

        # Changed behind the version's back: the router does not read the rows again.
        async with cli.transaction() as session:
            await session.execute(
                update(organisations)
                .where(organisations.c.code == NLD)
                .values(email="unseen@n.example")
            )
        assert await _authority_email(router, reported("MP/2", AT)) == "mc@n.example"

        # An import (another connection, as the CLI's) moves the version on.
        await importing.import_organisations(cli, _write(tmp_path / "b.csv", "duty@n.example"))
        assert await _version(router) > first
        assert await _authority_email(router, reported("MP/3", AT)) == "duty@n.example"

        # Any change that moves the version is seen.
        async with cli.transaction() as session:
            await session.execute(
                update(organisations).where(organisations.c.code == NLD).values(email="x@n.example")
            )
            await directory_cache.bump(session)
        assert await _authority_email(router, reported("MP/4", AT)) == "x@n.example"
    finally:
        await router.dispose()
        await cli.dispose()
