"""``relay watchlist --json`` and ``relay children show ID --json`` (issue 20) over the
console's read model on the real database: the repeat-missing children by id and
initials; a child's episodes, audited as a view; a merged child followed; an unknown
child refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from relay.cli import app as relay_app
from services.console import handlers
from services.console.tables import audit
from services.runtime.database import Database
from services.runtime.migrations import upgrade
from tests.integration.test_console_child_identity import A, B, link, police

NOW = datetime.now(UTC).replace(microsecond=0)
GRACE = {"given_name": "Grace", "family_name": "Hall", "date_of_birth": "2012-03-04"}


def relay(url: str, *args: str) -> Any:
    return CliRunner().invoke(relay_app, list(args), env={"RELAY_CONSOLE_DATABASE_URL": url})


async def test_watchlist_and_a_childs_episodes_for_scripts(
    database_url: Callable[[str], str],
) -> None:
    url = await asyncio.to_thread(database_url, "console")
    await asyncio.to_thread(upgrade, "console", url)
    db = Database(url)
    try:
        async with db.transaction() as session:
            for n in range(3):
                ref = f"W{n}"
                event = police(ref, NOW - timedelta(days=20 - n), GRACE)
                if n == 2:
                    event = event.model_copy(
                        update={"risk": event.risk.model_copy(update={"factors": ["cse"]})}  # type: ignore[union-attr]
                    )
                await handlers.on_episode_event(session, event, None)
                await handlers.on_child_identity(session, link(ref, A, 1), None)
            # A child merged into A: its old id still finds A.
            await handlers.on_episode_event(
                session, police("W9", NOW - timedelta(days=40), GRACE), None
            )
            await handlers.on_child_identity(session, link("W9", B, 1), None)
            await handlers.on_child_identity(session, link("W9", A, 2, previous=B), None)
    finally:
        await db.dispose()

    listed = await asyncio.to_thread(relay, url, "watchlist", "--json")
    assert listed.exit_code == 0, listed.output
    [child] = json.loads(listed.stdout)
    assert child == {
        "child_id": A,
        "initials": "G.H.",
        "episodes_in_window": 4,
        "last_episode_at": (NOW - timedelta(days=18)).isoformat(),
        "exploitation": ["cse"],
    }

    shown = await asyncio.to_thread(relay, url, "children", "show", A, "--json")
    assert shown.exit_code == 0, shown.output
    answer = json.loads(shown.stdout)
    assert (answer["child_id"], answer["initials"], answer["birth_year"]) == (A, "G.H.", 2012)
    assert [e["episode_ref"] for e in answer["episodes"]] == ["W2", "W1", "W0", "W9"]
    assert answer["episodes"][0]["risk_factors"] == ["cse"]
    assert answer["episodes"][0]["events"][0]["type"] == "reported"
    assert "Grace" not in shown.stdout  # initials only, for scripts

    followed = await asyncio.to_thread(relay, url, "children", "show", B, "--json")
    assert json.loads(followed.stdout)["merged_from"] == B

    unknown = await asyncio.to_thread(
        relay, url, "children", "show", "00000000-0000-0000-0000-000000000000"
    )
    assert unknown.exit_code == 1 and "no child" in unknown.output

    db = Database(url)
    try:
        async with db.transaction() as session:
            views = (await session.execute(select(audit.c.action, audit.c.subject))).all()
        assert [tuple(v) for v in views] == [("view-child", A), ("view-child", A)]
    finally:
        await db.dispose()
