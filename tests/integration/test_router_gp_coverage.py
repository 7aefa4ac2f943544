"""The rule ``other_given_name_at_home: auto`` in the router (services/router/
gp_coverage.py, gp_coverage_store.py): every roll import measures how completely the
GP lists hold the school children and stores it in its transaction, and the router's
model resolves ``auto`` by it, at the next event after an import, without a restart.
On the real database (SQLite, or PostgreSQL with RELAY_TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete

from schemas.catalogue import ALERTS_REQUESTED, IDENTITY_REVIEWS
from schemas.messages import AlertRequestedV1
from services.router import directory_cache, gp_coverage_store, importing
from services.router.gp_coverage import GpCoverage, of_records
from services.router.handlers import on_episode_event
from services.router.linking import load_roll
from services.router.model import MatchingModel, Rules, read_model
from services.router.settings import RouterSettings
from services.router.tables import gp_coverage
from services.runtime.database import Database
from services.runtime.migrations import upgrade
from tests import made_up
from tests.integration.test_router_handler import AT, NLD, FakeOutbox, reported

SCHOOL, OTHER_SCHOOL, GP, OTHER_GP, YOT = "100001", "100002", "A81001", "B82002", "YOT-NLD"
ORGS = f"""code,kind,name,email,la_code
{NLD},local-authority,Northumberland,mc@n.example,{NLD}
MSET-NLD,mset-panel,MSET,mset@n.example,{NLD}
{SCHOOL},school,Morpeth First School,dsl@morpeth.example,{NLD}
{OTHER_SCHOOL},school,Other School,dsl@other.example,{NLD}
{GP},gp-practice,Morpeth Surgery,gp@morpeth.example,{NLD}
{OTHER_GP},gp-practice,Other Surgery,gp@other.example,{NLD}
{YOT},yot,Youth Justice,yot@n.example,{NLD}
"""
COLUMNS = "org_code,record_id,given_name,family_name,date_of_birth,postcode,address"
BORN = date(2014, 2, 3)
HOME = "NE61 1AA,3 Mill Lane Morpeth"
# The police wrote another given name for Oliver Hart: birth date, family name and home
# agree, as they would for his twin on no roll or list.
CHILD = {
    "given_name": "Jacob",
    "family_name": "Hart",
    "date_of_birth": BORN.isoformat(),
    "postcode": "NE61 1AA",
    "address": "3 Mill Lane Morpeth",
}


def _children(count: int) -> list[str]:
    """Oliver Hart and ``count - 1`` other children (names and birth dates their own),
    as roll lines without the organisation's code and record id."""
    names, day = made_up.names(), date(2010, 1, 1)
    lines = [f"Oliver,Hart,{BORN.isoformat()},{HOME}"]
    for _ in range(count - 1):
        day += timedelta(days=1)
        if day == BORN:
            day += timedelta(days=1)
        lines.append(f"{next(names)},{next(names)},{day.isoformat()},,")
    return lines


def _write(path: Path, org: str, children: list[str]) -> Path:
    rows = [f"{org},R{n},{child}" for n, child in enumerate(children, 1)]
    path.write_text("\n".join([COLUMNS, *rows]) + "\n", encoding="utf-8")
    return path


async def _told(db: Database, ref: str, model: MatchingModel) -> tuple[bool, bool]:
    """Whether the school is told of the child, and whether a person is asked."""
    out = FakeOutbox()
    async with db.transaction() as session:
        await on_episode_event(session, reported(ref, AT, child=CHILD), out, model=model)  # type: ignore[arg-type]
    alerted = any(
        isinstance(m, AlertRequestedV1) and m.recipient.code == SCHOOL
        for t, _, m in out.sent
        if t is ALERTS_REQUESTED
    )
    return alerted, any(t is IDENTITY_REVIEWS for t, _, _ in out.sent)


async def test_auto_matches_once_the_gp_lists_hold_99_percent_and_not_below(
    database_url: Callable[[str], str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url)
    loaded = read_model(RouterSettings().matching_model_file)
    model = replace(loaded, rules=Rules(other_given_name_at_home="auto"))
    orgs = tmp_path / "orgs.csv"
    orgs.write_text(ORGS, encoding="utf-8")
    children = _children(1_000)
    router, cli = Database(url), Database(url)  # the router's and the import's connections
    caplog.set_level(logging.INFO, logger="services.router")
    try:
        await importing.import_organisations(cli, orgs)
        # 990 of the 1,000 school children on a GP list (Oliver among them): 99 %.
        await importing.import_roll(cli, _write(tmp_path / "school.csv", SCHOOL, children))
        await importing.import_roll(cli, _write(tmp_path / "gp.csv", GP, children[:990]))
        caplog.clear()
        assert await _told(router, "MP/1", model) == (True, False)
        assert (
            "router: other_given_name_at_home=auto: "
            "GP lists hold 99.0 % of 1,000 school children: match"
        ) in caplog.text

        # The GP list imported again one child short: the same router, not restarted,
        # asks a person.
        caplog.clear()
        await importing.import_roll(cli, _write(tmp_path / "gp2.csv", GP, children[:989]))
        assert "roll import: GP lists hold 98.9 % of 1,000 school children" in caplog.text
        assert await _told(router, "MP/2", model) == (False, True)
        assert "GP lists hold 98.9 % of 1,000 school children, fewer than 99 %: review" in (
            caplog.text
        )
        # The file's own choices stand whatever the coverage.
        for own in ("review", "match"):
            chosen = replace(loaded, rules=Rules(other_given_name_at_home=own))
            async with router.transaction() as session:
                assert (await directory_cache.matching_model(session, chosen)).rules == (
                    chosen.rules
                )

        # A database upgraded to 0012 with its roll already in: no coverage stored, so
        # review, and said so, until the next roll import.
        async with cli.transaction() as session:
            await session.execute(delete(gp_coverage))
            await directory_cache.bump(session)
        caplog.clear()
        assert await _told(router, "MP/3", model) == (False, True)
        assert (
            "router: other_given_name_at_home=auto: no GP coverage stored yet "
            "(the next roll import measures it): review"
        ) in caplog.text
        other = _write(tmp_path / "other.csv", OTHER_GP, children[989:990])
        await importing.import_roll(cli, other)
        assert await _told(router, "MP/4", model) == (True, False)
        assert "GP lists hold 99.0 % of 1,000 school children: match" in caplog.text
        assert "oliver" not in caplog.text.lower() and "hart" not in caplog.text.lower()
    finally:
        await router.dispose()
        await cli.dispose()


ROLL = """org_code,record_id,given_name,family_name,date_of_birth
{school},S1,Mary Jane,Smith,2012-01-01
{school},S2,Mary,Smith,2012-01-01
{school},S3,Anne-Marie,O'Brien,2012-01-03
{school},S4,Zoë,Lee,2012-01-04
{school},S5,Tom,Lee,2012-01-05
{school},S6,Amy,Lee,2012-01-06
"""
OTHER_ROLL = """org_code,record_id,given_name,family_name,date_of_birth
{school},T1,Mary,Smith,2012-01-01
{school},T2,Ben,Ng,2013-02-02
"""
GP_LIST = """org_code,record_id,given_name,family_name,date_of_birth
{gp},G1,MARY ROSE,SMITH,2012-01-01
{gp},G2,Anne,OBrien,2012-01-03
{gp},G3,Zoe,Lea,2012-01-04
{gp},G4,Tom,Lee,2012-05-01
{gp},G5,Dan,Ng,2014-01-01
"""
OTHER_LIST = """org_code,record_id,given_name,family_name,date_of_birth
{gp},H1,Ben,Ng,2013-02-02
"""
YOT_LIST = """org_code,record_id,given_name,family_name,date_of_birth
{yot},Y1,Amy,Lee,2012-01-06
"""


async def test_the_database_counts_as_a_roll_file_is_counted(
    database_url: Callable[[str], str], tmp_path: Path
) -> None:
    """The stored coverage is that of the same rows read as roll files (relay matching
    evaluate's, by code shape), over every organisation's roll: a child on two school
    rolls once, a middle name, case and punctuation no matter, a misspelling does, and a
    YOT's caseload is no GP list."""
    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url)
    orgs = tmp_path / "orgs.csv"
    orgs.write_text(ORGS, encoding="utf-8")
    files = {
        "one": ROLL.format(school=SCHOOL),
        "two": OTHER_ROLL.format(school=OTHER_SCHOOL),
        "gp": GP_LIST.format(gp=GP),
        "other_gp": OTHER_LIST.format(gp=OTHER_GP),
        "yot": YOT_LIST.format(yot=YOT),
    }
    paths = {name: tmp_path / f"{name}.csv" for name in files}
    for name, text in files.items():
        paths[name].write_text(text, encoding="utf-8")
    db = Database(url)

    async def stored() -> GpCoverage | None:
        async with db.transaction() as session:
            return await gp_coverage_store.stored(session)

    try:
        await importing.import_organisations(db, orgs)
        await importing.import_roll(db, paths["one"])
        # Mary Smith (twice), Anne-Marie O'Brien, Zoë Lee, Tom Lee, Amy Lee.
        assert await stored() == GpCoverage(5, 0)
        await importing.import_rolls(db, [paths["two"], paths["gp"], paths["yot"]])
        # With Ben Ng; on a GP list: Mary (Mary Rose), Anne-Marie O'Brien (Anne OBrien);
        # not Zoë Lee (Zoe Lea: one letter is another key), Tom (another birth date) nor
        # Amy (a YOT's caseload).
        assert await stored() == GpCoverage(6, 2)
        await importing.import_roll(db, paths["other_gp"])
        assert await stored() == GpCoverage(6, 3)
        records = [r for path in paths.values() for r in load_roll(path)[0].records]
        assert await stored() == of_records(records)
    finally:
        await db.dispose()
