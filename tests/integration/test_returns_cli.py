"""``relay returns figures`` and ``relay returns ssda903-missing`` (issue 21) against real
databases (SQLite, or PostgreSQL with RELAY_TEST_DATABASE_URL): the console's read model
and the router's directory, as an operator runs them; bad input refused with nothing
written; children with no record at the authority listed on standard error by police
reference, never by name; the export audited."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import select
from typer.testing import CliRunner

from relay.cli import app as relay_app
from services.console import handlers
from services.console.tables import audit
from services.runtime.migrations import upgrade
from tests.clock import MovableClock
from tests.integration.test_console_returns import (  # noqa: F401 (a fixture)
    NCL,
    NLD,
    _a_year_of_episodes,
    alert,
    console,
    episode_event,
    feed,
    la,
)

ORGS = f"""code,kind,name,email,la_code
{NLD},local-authority,Northumberland Council,mc@northumberland.example,
{NCL},local-authority,Newcastle City Council,mc@newcastle.example,
100001,school,Morpeth First School,dsl@morpeth.example,{NLD}
"""
ROLL = f"""org_code,record_id,given_name,family_name,date_of_birth
{NLD},LAC-LEO,Leo,Hart,2010-03-05
"""


def relay(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(relay_app, list(args), env=env)
    crashed = "" if isinstance(result.exception, SystemExit | None) else repr(result.exception)
    return result.exit_code, result.stdout, result.stderr + crashed


async def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    return await asyncio.to_thread(relay, env, *args)


async def directory(url: str, tmp_path: Path, roll: str = ROLL) -> None:
    await asyncio.to_thread(upgrade, "router", url)
    (tmp_path / "orgs.csv").write_text(ORGS, encoding="utf-8")
    (tmp_path / "roll.csv").write_text(roll, encoding="utf-8")
    env = {"RELAY_ROUTER_DATABASE_URL": url}
    for kind, name in (("organisations", "orgs.csv"), ("roll", "roll.csv")):
        code, out, err = await run(env, "directory", "import", kind, str(tmp_path / name))
        assert code == 0, out + err


def env_of(app: FastAPI, router_url: str) -> dict[str, str]:
    return {
        "RELAY_CONSOLE_DATABASE_URL": app.state.runtime.db.url,
        "RELAY_ROUTER_DATABASE_URL": router_url,
    }


async def test_figures_as_json_csv_and_a_table(
    console: tuple[FastAPI, MovableClock],  # noqa: F811
    tmp_path: Path,
    database_url: Callable[[str], str],
) -> None:
    app, _clock = console
    await _a_year_of_episodes(app)
    env = env_of(app, await asyncio.to_thread(database_url, "router"))
    period = ("--la", NLD, "--from", "2026-01-01", "--to", "2026-02-28")
    code, out, _ = await run(env, "returns", "figures", *period, "--json")
    assert code == 0
    doc = json.loads(out)
    assert [m["month"] for m in doc["months"]] == ["2026-01", "2026-02"]
    assert (doc["total"]["episodes"], doc["total"]["children"]) == (5, 2)
    assert doc["total"]["rhi"]["completed_within_72h"] == 1
    code, out, _ = await run(env, "returns", "figures", *period, "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows[-1]["month"] == "total" and rows[-1]["looked_after_children"] == "1"
    code, out, _ = await run(env, "returns", "figures", *period)
    assert code == 0 and "total" in out and "Mia" not in out
    # An authority the console never heard of: every figure is 0, and it says so.
    code, out, err = await run(
        env,
        "returns",
        "figures",
        "--la",
        "E06000001",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
        "--json",
    )
    assert code == 0 and json.loads(out)["total"]["episodes"] == 0
    assert "no episode, alert or task of E06000001" in err


async def test_bad_input_names_the_option(
    console: tuple[FastAPI, MovableClock],  # noqa: F811
    tmp_path: Path,
) -> None:
    app, _clock = console
    env = env_of(app, f"sqlite+aiosqlite:///{tmp_path / 'none' / 'router.db'}")
    for args, words in (
        (("--la", "E0600005", "--from", "2026-01-01", "--to", "2026-01-31"), "--la"),
        (("--la", NLD, "--from", "2026-13-01", "--to", "2026-01-31"), "--from"),
        (("--la", NLD, "--from", "2026-02-01", "--to", "2026-01-31"), "--from"),
    ):
        code, _, err = await run(env, "returns", "figures", *args)
        assert code == 2 and words in err, err
    code, _, err = await run(
        env,
        "returns",
        "figures",
        "--la",
        NLD,
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
        "--json",
        "--csv",
    )
    assert code == 2 and "one of --json and --csv" in err


async def test_the_ssda903_missing_table(
    console: tuple[FastAPI, MovableClock],  # noqa: F811
    tmp_path: Path,
    database_url: Callable[[str], str],
) -> None:
    app, _clock = console
    await _a_year_of_episodes(app)
    # A looked-after child of Northumberland on no record of its roll.
    from datetime import UTC, datetime

    stray = episode_event(
        "S1",
        "reported",
        datetime(2026, 2, 20, 9, tzinfo=UTC),
        child=("Ava", "Stone", "2013-07-08"),
        looked_after=True,
    )
    await feed(app, handlers.on_episode_event, stray)
    await feed(app, handlers.on_alert_requested, alert(stray, la(NLD), NLD, "reported.la"))
    router_url = await asyncio.to_thread(database_url, "router")
    await directory(router_url, tmp_path)
    env = env_of(app, router_url)
    out_file = tmp_path / "missing.csv"
    args = (
        "returns",
        "ssda903-missing",
        "--la",
        NLD,
        "--from",
        "2026-01-01",
        "--to",
        "2026-02-28",
        "--out",
        str(out_file),
    )
    code, out, err = await run(env, *args)
    assert code == 0, err
    assert out_file.read_bytes().decode("utf-8") == (
        "CHILD,DOB,MISSING,MIS_START,MIS_END\r\n"
        # The roll's date of birth (5 March), not the police's (4 March).
        "LAC-LEO,05/03/2010,M,10/01/2026,10/01/2026\r\n"
        "LAC-LEO,05/03/2010,M,10/02/2026,10/02/2026\r\n"
    )
    assert "wrote 2 row(s)" in out
    assert "10/S1 (A.S. (born 2013)), missing from 20/02/2026" in err
    assert "Ava" not in err and "Stone" not in err
    async with app.state.runtime.db.transaction() as session:
        actions = [(r.action, r.subject) for r in await session.execute(select(audit))]
    assert ("ssda903-export", f"{NLD} 2026-01-01..2026-02-28") in actions


async def test_an_unknown_authority_or_one_with_no_roll_writes_no_file(
    console: tuple[FastAPI, MovableClock],  # noqa: F811
    tmp_path: Path,
    database_url: Callable[[str], str],
) -> None:
    app, _clock = console
    router_url = await asyncio.to_thread(database_url, "router")
    await directory(router_url, tmp_path)
    env = env_of(app, router_url)
    out_file = tmp_path / "missing.csv"
    for la_code, words in (
        ("E06000001", "E06000001 is not in the directory: an unknown authority"),
        (NCL, f"{NCL} has no roll"),
        ("E0600005", "--la"),
    ):
        code, _, err = await run(
            env,
            "returns",
            "ssda903-missing",
            "--la",
            la_code,
            "--from",
            "2025-04-01",
            "--to",
            "2026-03-31",
            "--out",
            str(out_file),
        )
        assert code in (1, 2) and words in err, err
        assert not out_file.exists()
    no_folder = tmp_path / "nowhere" / "missing.csv"
    code, _, err = await run(
        env,
        "returns",
        "ssda903-missing",
        "--la",
        NLD,
        "--from",
        "2025-04-01",
        "--to",
        "2026-03-31",
        "--out",
        str(no_folder),
    )
    assert code == 2 and "--out" in err and not no_folder.exists()
    missing_router = {**env, "RELAY_ROUTER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x/r.db"}
    code, _, err = await run(
        missing_router,
        "returns",
        "ssda903-missing",
        "--la",
        NLD,
        "--from",
        "2025-04-01",
        "--to",
        "2026-03-31",
        "--out",
        str(out_file),
    )
    assert code == 1 and "no router database" in err and not out_file.exists()
