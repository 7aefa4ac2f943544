"""Directory imports through the CLI on the real database (SQLite, or PostgreSQL when
RELAY_TEST_DATABASE_URL is set): summaries, bad rows, atomic replacement, refusals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from relay.cli import app
from services.router import repository
from services.router.policy import recipient
from services.router.tables import roll
from services.runtime.database import Database
from services.runtime.migrations import upgrade

ORGS = """code,kind,name,email,escalation_email,phone,la_code
E06000057,local-authority,Northumberland Council,mc@northumberland.example,,,
100001,school,Morpeth First School,dsl@morpeth.example,head@morpeth.example,,E06000057
A81001,gp-practice,Morpeth Surgery,gp@nhs.example,,,E06000057
12345,school,Bad URN School,x@y.example,,,
"""
ROLL = """org_code,record_id,given_name,family_name,date_of_birth,nhs_number,upn,from,to
100001,S1,Zoë,O'Brien,2012-05-31,9434765919,B801200005001,2020-09-01,
100001,S2,Jack,Smith,2012-13-01,,,,
100001,S3,Mia,Khan,2013-01-02,9434765918,,,
999999,X1,Amy,Lee,2012-01-01,,,,
A81001,P1,Zoe,OBrien,31/05/2012,9434765919,,,
100001,S1,Again,Same,2012-01-01,,,,
"""


def relay(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"RELAY_ROUTER_DATABASE_URL": url})
    return result.exit_code, result.output


async def roll_ids(url: str) -> list[tuple[str, str]]:
    db = Database(url)
    try:
        async with db.transaction() as session:
            rows = (
                await session.execute(
                    select(roll.c.org_code, roll.c.record_id).order_by(
                        roll.c.org_code, roll.c.record_id
                    )
                )
            ).all()
        return [tuple(r) for r in rows]  # type: ignore[misc]
    finally:
        await db.dispose()


async def test_imports_report_bad_rows_and_replace_rolls_atomically(
    tmp_path: Path,
    database_url: Callable[[str], str],
) -> None:
    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url)
    orgs, rolls = tmp_path / "orgs.csv", tmp_path / "roll.csv"
    orgs.write_text(ORGS, encoding="utf-8")
    rolls.write_text(ROLL, encoding="utf-8")

    code, out = await asyncio.to_thread(
        relay, url, "directory", "import", "organisations", str(orgs), "--json"
    )
    assert code == 0, out
    summary = json.loads(out)
    assert (summary["imported"], summary["skipped"]) == (3, 1)
    assert summary["issues"][0]["line"] == 5 and summary["issues"][0]["column"] == "code"

    code, out = await asyncio.to_thread(
        relay, url, "directory", "import", "roll", str(rolls), "--json"
    )
    assert code == 0, out
    summary = json.loads(out)
    assert (summary["imported"], summary["skipped"]) == (3, 3)
    assert summary["per_organisation"] == {"100001": 2, "A81001": 1}
    problems = {(i["line"], i["column"], i["skipped"]) for i in summary["issues"]}
    assert problems == {
        (3, "date_of_birth", True),
        (4, "nhs_number", False),
        (5, "org_code", True),
        (7, "record_id", True),
    }
    assert await roll_ids(url) == [("100001", "S1"), ("100001", "S3"), ("A81001", "P1")]

    # Human output names lines; stats count what is loaded.
    code, out = await asyncio.to_thread(relay, url, "directory", "import", "roll", str(rolls))
    assert code == 0 and "line 5: org_code: unknown organisation 999999" in out
    code, out = await asyncio.to_thread(relay, url, "directory", "stats", "--json")
    stats = json.loads(out)
    assert stats["organisations_by_kind"] == {"gp-practice": 1, "local-authority": 1, "school": 1}
    assert stats["roll_rows_total"] == 3

    # Re-importing one organisation's roll replaces it and leaves the others alone.
    school = tmp_path / "school.csv"
    school.write_text(
        "org_code,record_id,given_name,family_name,date_of_birth\n"
        "100001,S9,Noah,Brown,2014-02-03\n",
        encoding="utf-8",
    )
    code, out = await asyncio.to_thread(
        relay, url, "directory", "import", "roll", str(school), "--json"
    )
    assert json.loads(out)["replaced"] == {"100001": 2}
    assert await roll_ids(url) == [("100001", "S9"), ("A81001", "P1")]

    # A file without the required columns is refused before anything changes.
    bad = tmp_path / "bad.csv"
    bad.write_text("org_code,record_id,family_name\n100001,S1,Smith\n", encoding="utf-8")
    code, out = await asyncio.to_thread(relay, url, "directory", "import", "roll", str(bad))
    assert code == 2
    assert "given_name, date_of_birth" in out
    assert await roll_ids(url) == [("100001", "S9"), ("A81001", "P1")]

    # Several files are one import: one bad file refuses them all, naming it; good ones
    # replace the rolls of every organisation they hold, all at once.
    gp = tmp_path / "gp.csv"
    gp.write_text(
        "org_code,record_id,given_name,family_name,date_of_birth\nA81001,P7,Ruby,Hall,2011-06-07\n",
        encoding="utf-8",
    )
    code, out = await asyncio.to_thread(
        relay, url, "directory", "import", "roll", str(school), str(bad)
    )
    assert code == 2 and "bad.csv" in out and "given_name, date_of_birth" in out
    assert await roll_ids(url) == [("100001", "S9"), ("A81001", "P1")]
    code, out = await asyncio.to_thread(
        relay, url, "directory", "import", "roll", str(rolls), str(gp), "--json"
    )
    assert code == 0, out
    first, second = json.loads(out)
    assert first["replaced"] == {"100001": 1, "A81001": 1}
    assert second["per_organisation"] == {"A81001": 1} and second["replaced"] == {"A81001": 1}
    assert await roll_ids(url) == [
        ("100001", "S1"),
        ("100001", "S3"),
        ("A81001", "P1"),
        ("A81001", "P7"),
    ]


async def test_an_authority_s_out_of_hours_team_reaches_the_routing(
    tmp_path: Path,
    database_url: Callable[[str], str],
) -> None:
    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url)
    orgs = tmp_path / "orgs.csv"
    orgs.write_text(
        "code,kind,name,email,escalation_email,phone,la_code,out_of_hours_email\n"
        "E06000057,local-authority,Northumberland Council,mc@n.example,,,,edt@n.example\n"
        "100001,school,Morpeth First School,dsl@m.example,,,E06000057,night@m.example\n",
        encoding="utf-8",
    )
    code, out = await asyncio.to_thread(
        relay, url, "directory", "import", "organisations", str(orgs), "--json"
    )
    assert code == 0, out
    summary = json.loads(out)
    assert summary["imported"] == 2
    assert [(i["line"], i["column"], i["skipped"]) for i in summary["issues"]] == [
        (3, "out_of_hours_email", False)
    ]
    db = Database(url)
    try:
        async with db.transaction() as session:
            found = await repository.organisations_for_routing(session, ["100001"])
    finally:
        await db.dispose()
    assert found["E06000057"].out_of_hours_email == "edt@n.example"
    assert found["100001"].out_of_hours_email is None
    assert recipient(found["E06000057"]).out_of_hours_email == "edt@n.example"

    # Re-imported without the column, the authority no longer has one.
    orgs.write_text(
        "code,kind,name,email\nE06000057,local-authority,Northumberland Council,mc@n.example\n",
        encoding="utf-8",
    )
    code, out = await asyncio.to_thread(
        relay, url, "directory", "import", "organisations", str(orgs)
    )
    assert code == 0, out
    db = Database(url)
    try:
        async with db.transaction() as session:
            found = await repository.organisations_for_routing(session, [])
    finally:
        await db.dispose()
    assert found["E06000057"].out_of_hours_email is None
