"""The partnership's figures page (issue 20) on the real database, from episode events
through the console's projection: the chair's figures for every authority or one, an RHI
worker's for their own authority only whatever they ask, each figure's CSV, and the
episodes read before console migration 0010 counted too."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from fastapi import FastAPI
from sqlalchemy import select, text

from schemas.episode import EpisodeEventV1
from services.console import handlers
from services.console.app import create_app
from services.console.tables import episodes, metadata
from services.runtime.database import Database
from services.runtime.migrations import alembic_config, upgrade
from services.runtime.settings import RelaySettings
from tests.clock import MovableClock
from tests.console_login import add_users, client_of, sign_in
from tests.integration.test_console_child_identity import link
from tests.schema import schema_drift

T0 = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)  # a Friday, 21:30 in London
NORTH, WEST = "E06000057", "E08000021"


def event(ref: str, type_: str, at: datetime, la: str, **extra: Any) -> EpisodeEventV1:
    return EpisodeEventV1.model_validate(
        {
            "message_id": f"m-{ref}-{type_}",
            "event_id": f"{ref}-{type_}",
            "type": type_,
            "occurred_at": at,
            "force_code": "10",
            "episode_ref": ref,
            "child": {
                "given_name": "Mia",
                "family_name": "Rowe",
                "date_of_birth": "2011-04-05",
                "sex": "Female",
                "postcode": "NE61 1AA",
                "looked_after": la == WEST,
                "responsible_la": la,
            },
            "accepted_at": at,
            "source": "test",
            **({"risk": {"grade": "medium", "factors": ["cse"]}} if type_ == "reported" else {}),
            **extra,
        }
    )


@pytest.fixture
async def console(tmp_path: Any, database_url: Callable[[str], str]) -> AsyncIterator[FastAPI]:
    url = await asyncio.to_thread(database_url, "console")
    await asyncio.to_thread(upgrade, "console", url)
    app = create_app(
        RelaySettings(console_database_url=url, var_dir=tmp_path),
        clock=MovableClock(datetime(2026, 3, 30, 12, tzinfo=UTC)),
    )
    await add_users(app)
    feed: list[tuple[Any, Any]] = []
    for n in range(3):
        ref = f"N{n}"
        at = T0 + timedelta(days=7 * n)
        feed += [
            (handlers.on_episode_event, event(ref, "reported", at, NORTH, missing_from="home")),
            (handlers.on_child_identity, link(ref, "11111111-1111-5111-8111-111111111111", 1)),
        ]
    feed += [
        (handlers.on_episode_event, event("W1", "reported", T0, WEST, missing_from="care")),
        (
            handlers.on_episode_event,
            event(
                "W1",
                "found",
                T0 + timedelta(hours=5),
                WEST,
                location={"postcode": "NE1 4XF", "description": "Haymarket bus station"},
            ),
        ),
    ]
    for handler, message in feed:
        async with app.state.runtime.db.transaction() as session:
            await handler(session, message, None)
    yield app
    await app.state.runtime.db.dispose()


def figure_rows(page: str, name: str) -> dict[str, str]:
    section = page.split(f'id="{name}"')[1].split("</section>")[0]
    rows = section.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    return {
        r.split('<th scope="row">')[1].split("</th>")[0]: r.split("<td>")[1].split("</td>")[0]
        for r in rows
    }


async def test_the_chairs_figures_and_an_rhi_workers_own(console: FastAPI) -> None:
    async with client_of(console) as client:
        await sign_in(client, "chair")
        page = await client.get("/analytics", params={"since": "2026-03-01", "until": "2026-03-31"})
        assert page.status_code == 200
        headline = page.text.split('id="headline"')[1].split("</dl>")[0]
        assert "<dd>4</dd>" in headline and "<dd>2</dd>" in headline  # episodes, children
        assert "50.0%" in headline  # Mia: 3 in 90 days; the other child once
        assert "100.0% of episodes" in headline  # CSE on every report
        assert figure_rows(page.text, "by-day")["Fri"] == "4"
        assert figure_rows(page.text, "by-hour")["21"] == "4"  # GMT in March
        assert figure_rows(page.text, "by-age")["14-15"] == "4"
        assert figure_rows(page.text, "by-sex")["female"] == "4"
        assert figure_rows(page.text, "by-missing-from")["care"] == "1"
        assert figure_rows(page.text, "by-looked-after")["looked after"] == "1"
        assert figure_rows(page.text, "by-home-district") == {"NE61": "4"}
        assert figure_rows(page.text, "by-found-district") == {"NE1": "1"}
        assert page.text.count("<svg") == 10 and "1AA" not in page.text
        one = await client.get("/analytics", params={"since": "2026-03-01", "la": WEST})
        assert figure_rows(one.text, "by-missing-from") == {
            "home": "0",
            "care": "1",
            "education": "0",
            "other": "0",
        }
        exported = await client.get(
            "/analytics.csv",
            params={"figure": "by-day", "since": "2026-03-01", "until": "2026-03-31"},
        )
        assert exported.headers["content-type"].startswith("text/csv")
        assert (
            'filename="by-day-2026-03-01-2026-03-31.csv"' in exported.headers["content-disposition"]
        )
        assert ["Fri", "4", "1.0000"] in list(csv.reader(io.StringIO(exported.text)))
        assert (await client.get("/analytics.csv", params={"figure": "nope"})).status_code == 404

    async with client_of(console) as client:
        await sign_in(client, "rhi-north")  # E06000057's worker
        mine = await client.get("/analytics", params={"since": "2026-03-01", "la": WEST})
        assert mine.status_code == 200
        assert figure_rows(mine.text, "by-missing-from")["home"] == "3"
        assert figure_rows(mine.text, "by-missing-from")["care"] == "0"  # not theirs
        assert 'id="la"' not in mine.text  # no authority to choose
        csv_mine = await client.get("/analytics.csv", params={"figure": "by-month", "la": WEST})
        assert f"-{NORTH}.csv" in csv_mine.headers["content-disposition"]
    async with client_of(console) as client:
        await sign_in(client, "mash")
        assert (await client.get("/analytics")).status_code == 403


async def test_episodes_read_before_the_migration_are_counted(
    tmp_path: Any, database_url: Callable[[str], str]
) -> None:
    url = await asyncio.to_thread(database_url, "console")
    await asyncio.to_thread(upgrade, "console", url, "0009")
    db = Database(url)
    try:
        async with db.transaction() as session:
            await session.execute(
                text(
                    "INSERT INTO console_episodes (episode_key, force_code, episode_ref,"
                    " event_count, updated_at, first_event_at, date_of_birth, risk_factors)"
                    " VALUES ('10:O1', '10', 'O1', 2, :at, :at, :born, 'cse,self-harm')"
                ),
                {"at": T0, "born": datetime(2011, 4, 5).date()},
            )
            for n, (type_, postcode) in enumerate((("reported", None), ("found", "NE1 4XF"))):
                await session.execute(
                    text(
                        "INSERT INTO console_episode_events (message_id, episode_key, event_id,"
                        " type, occurred_at, accepted_at, source, initials, birth_year,"
                        " looked_after, missing_from, location_postcode) VALUES (:m, '10:O1',"
                        " :m, :t, :at, :at, 'test', 'M.R.', 2011, false, :mf, :pc)"
                    ),
                    {
                        "m": f"e{n}",
                        "t": type_,
                        "at": T0 + timedelta(hours=n),
                        "mf": "care" if n == 0 else None,
                        "pc": postcode,
                    },
                )
        await db.dispose()
        await asyncio.to_thread(upgrade, "console", url)
        assert await schema_drift(db, metadata) == []
        async with db.transaction() as session:
            row = (await session.execute(select(episodes))).mappings().one()
        assert (row["missing_from"], row["found_district"], row["reported_month"]) == (
            "care",
            "NE1",
            "2026-03",
        )
        assert (row["reported_hour"], row["reported_weekday"], row["age_at_report"]) == (21, 4, 14)
        assert row["exploitation"] is True
        await db.dispose()
        await asyncio.to_thread(command.downgrade, alembic_config("console", url), "0009")
        await asyncio.to_thread(upgrade, "console", url)
        assert await schema_drift(db, metadata) == []
    finally:
        await db.dispose()
