"""The router weighs names by the live roll's frequencies (issue 22;
services/router/name_frequencies.py, frequency_store.py): on the real database
(SQLite, or PostgreSQL with RELAY_TEST_DATABASE_URL), through the roll import and the
episode handler, as a partnership's router does between two imports of its roll."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from schemas.catalogue import ALERTS_REQUESTED, IDENTITY_REVIEWS
from schemas.messages import AlertRequestedV1, IdentityReviewV1
from services.router import frequency_store, importing
from services.router.handlers import on_episode_event
from services.router.linking import load_roll
from services.router.model import MatchingModel, read_model
from services.router.name_frequencies import LIVE_MIN_ROWS, of_roll
from services.router.settings import RouterSettings
from services.runtime.database import Database
from services.runtime.migrations import upgrade
from tests import made_up
from tests.integration.test_router_handler import AT, NLD, FakeOutbox, reported

SCHOOL = "100001"
ORGS = f"""code,kind,name,email,la_code
{NLD},local-authority,Northumberland,mc@n.example,{NLD}
MSET-NLD,mset-panel,MSET,mset@n.example,{NLD}
{SCHOOL},school,Morpeth First School,dsl@morpeth.example,{NLD}
"""
BORN = date(2012, 5, 31)
CHILD = {"given_name": "Zainab", "family_name": "Okafor", "date_of_birth": BORN.isoformat()}


def _write_roll(path: Path, rows: int, common: float) -> Path:
    """A roll of ``rows`` rows for the school: the child (S1) and, of the others,
    ``common`` named Zainab (other family names) and as many Okafor (other given names),
    born on other days than the child."""
    names = made_up.names()
    lines = ["org_code,record_id,given_name,family_name,date_of_birth"]
    lines.append(f"{SCHOOL},S1,Zainab,Okafor,{BORN.isoformat()}")
    shared = round(common * rows)
    day = date(2010, 1, 1)
    for n in range(2, rows + 1):
        day += timedelta(days=1)
        if day == BORN:
            day += timedelta(days=1)
        given = "Zainab" if n <= shared else next(names)
        family = "Okafor" if shared < n <= 2 * shared else next(names)
        lines.append(f"{SCHOOL},S{n},{given},{family},{day.isoformat()}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def _route(db: Database, ref: str, model: MatchingModel) -> tuple[bool, list[float]]:
    """Whether the school is told of the child, and the scores of S1 a reviewer is
    asked about (what the router's users see of the decision)."""
    out = FakeOutbox()
    async with db.transaction() as session:
        await on_episode_event(session, reported(ref, AT, child=CHILD), out, model=model)  # type: ignore[arg-type]
    alerted = any(
        isinstance(m, AlertRequestedV1) and m.recipient.code == SCHOOL
        for t, _, m in out.sent
        if t is ALERTS_REQUESTED
    )
    scores = [
        c.score
        for t, _, m in out.sent
        if t is IDENTITY_REVIEWS and isinstance(m, IdentityReviewV1)
        for c in m.candidates
        if c.roll_record_id == "S1"
    ]
    return alerted, scores


async def test_a_name_common_on_the_live_roll_weighs_less_until_the_roll_changes(
    database_url: Callable[[str], str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url)
    model = read_model(RouterSettings().matching_model_file)
    # The model file holds neither name: each weighs as an average name there.
    assert not {"zainab", "okafor"} & {*model.term_frequencies["given_name"].values}
    assert "okafor" not in model.term_frequencies["family_name"].values
    orgs = tmp_path / "orgs.csv"
    orgs.write_text(ORGS, encoding="utf-8")
    router, cli = Database(url), Database(url)  # the router's and the import's connections
    caplog.set_level(logging.INFO, logger="services.router")
    try:
        await importing.import_organisations(cli, orgs)
        # A third of the roll is a Zainab and a third an Okafor: two such children agree on
        # both names by chance far more often than the model file's average says.
        await importing.import_roll(cli, _write_roll(tmp_path / "a.csv", 1_200, 1 / 3))
        alerted, scores = await _route(router, "MP/1", model)
        assert not alerted
        assert len(scores) == 1 and model.thresholds.review <= scores[0] < model.thresholds.match
        assert "name frequencies from the roll (" in caplog.text

        # The roll imported again with both names rare: the same router, not restarted,
        # matches the same record.
        caplog.clear()
        await importing.import_roll(cli, _write_roll(tmp_path / "b.csv", 1_200, 0.0))
        assert await _route(router, "MP/2", model) == (True, [])
        assert "name frequencies from the roll (" in caplog.text

        # A roll too small for its shares to say much keeps the model file's, however
        # common the names on it.
        caplog.clear()
        small = LIVE_MIN_ROWS // 2
        await importing.import_roll(cli, _write_roll(tmp_path / "c.csv", small, 1 / 3))
        assert await _route(router, "MP/3", model) == (True, [])
        assert f"model file ({len(model.term_frequencies['given_name'].values)} given" in (
            caplog.text
        )
        assert "zainab" not in caplog.text.lower() and "okafor" not in caplog.text.lower()
    finally:
        await router.dispose()
        await cli.dispose()


ROLL = """org_code,record_id,given_name,family_name,date_of_birth
{school},A1,Mary Jane,Smith,2012-01-01
{school},A2,Mary,Smith-Jones,2012-01-02
{school},A3,MARY,O'Brien,2012-01-03
{school},A4,Anne-Marie,Smith,2012-01-04
{school},A5,Anne,Smith,2012-01-05
{school},A6,Zoë,Smith,2012-01-06
{school},A7,Zoe,Smith,2012-01-07
{school},A8,Anne Zoe,Lee,2012-01-08
{school},A9,Mary,Lee,2012-01-09
{school},A10,Anne,Lee,2012-01-10
"""
ROLL_2 = """org_code,record_id,given_name,family_name,date_of_birth
{school},B1,Mary,Lee,2013-01-01
{school},B2,Anne,Lee,2013-01-02
"""


async def test_the_database_counts_names_as_a_roll_file_is_counted(
    database_url: Callable[[str], str], tmp_path: Path
) -> None:
    """The stored tables are those of the same roll read as a file (relay matching
    evaluate's), given names by their first name, over every organisation's roll."""
    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url)
    orgs = tmp_path / "orgs.csv"
    orgs.write_text(ORGS + f"100002,school,Other School,dsl@other.example,{NLD}\n", "utf-8")
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    one.write_text(ROLL.format(school=SCHOOL), encoding="utf-8")
    two.write_text(ROLL_2.format(school="100002"), encoding="utf-8")
    db = Database(url)
    try:
        await importing.import_organisations(db, orgs)
        await importing.import_roll(db, one)
        await importing.import_roll(db, two)  # another organisation's: the first stays
        async with db.transaction() as session:
            stored = await frequency_store.stored(session)
        records = [*load_roll(one)[0].records, *load_roll(two)[0].records]
        assert stored == of_roll(records)
        assert stored is not None and stored.rows == 12
        given = stored.tables["given_name"]
        assert given.values == {"mary": 5 / 12, "anne": 5 / 12}  # Mary Jane is a Mary
        assert stored.tables["family_name"].values == {"smith": 5 / 12, "lee": 5 / 12}
    finally:
        await db.dispose()
