"""Roll imports at scale on the real database (SQLite, or PostgreSQL when
RELAY_TEST_DATABASE_URL is set): a generated roll of tens of thousands of rows goes in
with its counts right, replaces an organisation's roll atomically, and reports bad rows.

The same generator measures the national-scale figures (rows per second, peak memory,
lookup latency) when this file is run as a script::

    .venv/bin/python -m tests.integration.test_router_import_scale --rows 1000000 \
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/roll_bench

It is not a timed test: a loaded CI machine must not fail it.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select

from relay.demo_data import FAMILY_NAMES, GIVEN_NAMES
from schemas.episode import ChildV1
from schemas.identifiers import nhs_number_check_digit
from services.router import importing, repository, roll_parsing
from services.router.directory import ROLL_COLUMNS, ColumnsError, FileRefusedError
from services.router.linking import load_roll
from services.router.tables import metadata, roll
from services.runtime.database import Database
from services.runtime.migrations import upgrade
from tests.schema import schema_drift

ROLL_HEADER = ROLL_COLUMNS
_GIVEN = list(GIVEN_NAMES)
_FAMILY_ROOTS = list(FAMILY_NAMES)
_INWARD = "ABDEFGHJLNPQRSTUWXYZ"  # the letters a postcode's inward part may use
_SUFFIXES = ("", "", "", "son", "ton", "ley", "ford", "er", "s", "well", "by", "ham")


def _nhs_number(rng: random.Random) -> str:
    while True:
        nine = str(rng.randrange(400_000_000, 999_999_999))
        check = nhs_number_check_digit(nine)
        if check is not None and check != 10:
            return f"{nine}{check}"


def write_roll(path: Path, rows: int, per_org: int = 500, seed: int = 7) -> list[str]:
    """A roll of ``rows`` made-up children over schools of ``per_org`` pupils each (URNs
    from 100000); returns the organisation codes. Names repeat as in real rolls (a few
    hundred given names, some thousands of family names), postcodes are shared by a
    few dozen children, 80% carry a valid NHS number."""
    rng = random.Random(seed)
    families = [
        f"{root}{suffix}" for root in _FAMILY_ROOTS for suffix in _SUFFIXES if suffix or root
    ]
    families += [f"{a}-{b}" for a, b in zip(families[::7], families[3::11], strict=False)]
    orgs = [str(100_000 + n) for n in range((rows + per_org - 1) // per_org)]
    outward = [f"NE{n}" for n in range(1, 70)]
    start = date(2006, 9, 1)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(ROLL_HEADER)
        for n in range(rows):
            org = orgs[n // per_org]
            unit = rng.randrange(rows // 30 + 50)
            postcode = (
                f"{outward[unit % len(outward)]} {unit % 10}"
                f"{_INWARD[unit % 20]}{_INWARD[(unit // 20) % 20]}"
            )
            writer.writerow(
                (
                    org,
                    f"R{n}",
                    rng.choice(_GIVEN) + ("-Mae" if rng.random() < 0.02 else ""),
                    rng.choice(families),
                    (start + timedelta(days=rng.randrange(6_000))).isoformat(),
                    rng.choice("FM"),
                    _nhs_number(rng) if rng.random() < 0.8 else "",
                    "",
                    postcode,
                    f"{rng.randrange(1, 200)} High Street",
                    "2020-09-01",
                    "",
                )
            )
    return orgs


def write_organisations(path: Path, codes: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(("code", "kind", "name", "email"))
        for code in codes:
            writer.writerow((code, "school", f"School {code}", f"dsl{code}@school.example"))


async def _count(db: Database, org: str | None = None) -> int:
    async with db.transaction() as session:
        query = select(func.count()).select_from(roll)
        if org is not None:
            query = query.where(roll.c.org_code == org)
        return int(await session.scalar(query) or 0)


async def test_a_large_roll_imports_replaces_and_reports_bad_rows(
    tmp_path: Path, database_url: Callable[[str], str]
) -> None:
    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url)
    rolls, orgs_file = tmp_path / "roll.csv", tmp_path / "orgs.csv"
    orgs = await asyncio.to_thread(write_roll, rolls, 50_000)
    write_organisations(orgs_file, orgs)
    db = Database(url)
    try:
        await importing.import_organisations(db, orgs_file)
        seen: list[int] = []
        summary = await importing.import_roll(db, rolls, seen.append)
        assert (summary.imported, summary.skipped, summary.issue_count) == (50_000, 0, 0)
        assert len(summary.per_organisation) == 100
        assert seen and seen[-1] == rolls.stat().st_size  # the progress bar reaches the end
        assert seen == sorted(seen)
        assert await _count(db) == 50_000
        assert await _index_names(db) == {i.name for i in roll.indexes}
        async with db.transaction() as session:  # a lookup before the roll is replaced
            assert await repository.candidates(session, _child("Amy", "Lee", "2012-01-01")) == []

        # The whole file again: every roll replaced, nothing doubled.
        summary = await importing.import_roll(db, rolls)
        assert summary.replaced == dict.fromkeys(orgs, 500)
        assert await _count(db) == 50_000
        assert await _index_names(db) == {i.name for i in roll.indexes}
        assert await schema_drift(db, metadata) == []  # dropped and rebuilt as migrated

        # One school's new roll, with bad rows: the school's old rows go, the others stay;
        # each bad row is reported with its line.
        school = tmp_path / "school.csv"
        school.write_text(
            ",".join(ROLL_HEADER) + "\n"
            f"{orgs[0]},N1,Amy,Lee,2012-01-01,F,9434765919,,,,,\n"
            f"{orgs[0]},N2,Ben,Lee,2012-02-30,,,,,,,\n"
            f"{orgs[0]},N3,Cal,Lee,2012-03-01,M,9434765918,,,,,\n"
            f"999999,N4,Dee,Lee,2012-03-01,,,,,,,\n",
            encoding="utf-8",
        )
        summary = await importing.import_roll(db, school)
        assert summary.replaced == {orgs[0]: 500}
        assert (summary.imported, summary.skipped) == (2, 2)
        assert {(i.line, i.column, i.skipped) for i in summary.issues} == {
            (3, "date_of_birth", True),
            (4, "nhs_number", False),
            (5, "org_code", True),
        }
        assert await _count(db, orgs[0]) == 2
        assert await _count(db) == 49_502

        # A file lacking required columns changes nothing.
        bad = tmp_path / "bad.csv"
        bad.write_text(f"org_code,record_id\n{orgs[1]},X\n", encoding="utf-8")
        try:
            await importing.import_roll(db, bad)
        except ColumnsError as exc:
            assert "given_name, family_name, date_of_birth" in str(exc)
        else:
            raise AssertionError("a file without required columns was imported")
        assert await _count(db) == 49_502

        # The new roll is what a lookup finds.
        async with db.transaction() as session:
            [child] = await repository.candidates(session, _child("Amy", "Lee", "2012-01-01"))
        assert child.record_id == "N1" and child.nhs_number == "9434765919"
    finally:
        await db.dispose()


async def test_a_roll_parsed_in_parts_reports_lines_and_repeats_across_parts(
    tmp_path: Path,
    database_url: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A large file is parsed by several processes, each on its own part: the issues
    still name the file's own line numbers, and a record id repeated in another part is
    still skipped and reported (the import is done again with one parser)."""
    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url)
    rolls, orgs_file = tmp_path / "roll.csv", tmp_path / "orgs.csv"
    orgs = await asyncio.to_thread(write_roll, rolls, 50_000)
    write_organisations(orgs_file, orgs)
    with rolls.open("a", encoding="utf-8", newline="") as out:
        out.write(f'{orgs[-1]},Z1,"Ann\nMarie",Lee,2012-02-30,F,,,,"1, ""The"" Row",,\n')
        out.write(f"{orgs[0]},R0,Amy,Lee,2012-01-01,F,,,,,,\n")  # R0 is line 2's record id
        out.write(f"{orgs[-1]},Z2,Ben,Lee,2012-01-01,M,,,,,,\n")
    parts = roll_parsing.split_parts(rolls, rolls.stat().st_size, 3)
    assert len(parts) == 3 and parts[-1].lines_before > 30_000
    monkeypatch.setattr(importing, "parser_count", lambda size: 3)
    caplog.set_level(logging.INFO, logger=importing.__name__)
    db = Database(url)
    try:
        await importing.import_organisations(db, orgs_file)
        summary = await importing.import_roll(db, rolls)
        assert (summary.imported, summary.skipped) == (50_001, 2)
        assert [(i.line, i.column) for i in summary.issues] == [
            (50_003, "date_of_birth"),  # the row ends there: a quoted line feed in it
            (50_004, "record_id"),
        ]
        assert "appears earlier in the file" in summary.issues[1].message
        assert "importing with one parser" in caplog.text
        assert await _count(db) == 50_001
        caplog.clear()

        # Without the repeat, the parts are written as they are parsed, in one go.
        lines = rolls.read_text(encoding="utf-8").splitlines(keepends=True)
        rolls.write_text("".join(lines[:-2] + lines[-1:]), encoding="utf-8")
        summary = await importing.import_roll(db, rolls)
        assert (summary.imported, summary.skipped) == (50_001, 1)
        assert [(i.line, i.column) for i in summary.issues] == [(50_003, "date_of_birth")]
        assert "importing with one parser" not in caplog.text
        assert summary.replaced == {org: 500 for org in orgs} | {orgs[-1]: 501}
        assert await _count(db) == 50_001
    finally:
        await db.dispose()


async def test_several_files_import_as_one_and_a_record_in_two_files_is_refused(
    tmp_path: Path, database_url: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Schools, GP lists and a YOT caseload in one import: the large files' parts shared
    out among the same parser processes, the small one parsed in a thread, a summary
    per file; a record id that two files give for one organisation refuses the lot,
    naming both lines."""
    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url)
    schools, gps, yot = tmp_path / "schools.csv", tmp_path / "gps.csv", tmp_path / "yot.csv"
    school_orgs = await asyncio.to_thread(write_roll, schools, 20_000)
    gp_orgs = [str(int(org) + 1000) for org in school_orgs]
    lines = schools.read_text(encoding="utf-8").splitlines(keepends=True)
    gps.write_text(
        lines[0] + "".join(str(int(line[:6]) + 1000) + line[6:] for line in lines[1:]),
        encoding="utf-8",
    )
    yot.write_text(
        ",".join(ROLL_HEADER)
        + "\n900001,C1,Amy,Lee,2010-01-01,F,,,,,,\n900001,C2,Ben,Lee,2011-02-03,M,,,,,,\n",
        encoding="utf-8",
    )
    orgs_file = tmp_path / "orgs.csv"
    write_organisations(orgs_file, [*school_orgs, *gp_orgs, "900001"])
    monkeypatch.setattr(importing, "PROCESS_MIN_BYTES", 100_000)  # the two large files
    monkeypatch.setattr(importing, "parser_count", lambda size: 2)
    started: list[int] = []
    real = roll_parsing.ProcessChunks.__init__

    def counting(self: Any, jobs: Any, known: Any, iso: bool, workers: int) -> None:
        started.append(workers)
        real(self, jobs, known, iso, workers)

    monkeypatch.setattr(roll_parsing.ProcessChunks, "__init__", counting)
    db = Database(url)
    try:
        await importing.import_organisations(db, orgs_file)
        seen: list[int] = []
        summaries = await importing.import_rolls(db, [schools, gps, yot], seen.append)
        assert started == [2]  # one set of parsers for the four parts of two files
        assert [(s.path, s.imported, s.skipped) for s in summaries] == [
            (str(schools), 20_000, 0),
            (str(gps), 20_000, 0),
            (str(yot), 2, 0),
        ]
        assert [set(s.per_organisation) for s in summaries] == [
            set(school_orgs),
            set(gp_orgs),
            {"900001"},
        ]
        assert seen[-1] == sum(p.stat().st_size for p in (schools, gps, yot))
        assert seen == sorted(seen)
        assert await _count(db) == 40_002
        assert await schema_drift(db, metadata) == []

        again = tmp_path / "again.csv"  # R5 is the sixth row of the schools' file
        again.write_text(
            ",".join(ROLL_HEADER) + f"\n{school_orgs[0]},R5,Amy,Lee,2012-01-01,F,,,,,,\n",
            encoding="utf-8",
        )
        with pytest.raises(FileRefusedError) as refused:
            await importing.import_rolls(db, [schools, gps, again])
        assert str(refused.value) == (
            f"{school_orgs[0]} record R5 is in schools.csv (line 7) and in again.csv "
            "(line 2): give each record in one file only"
        )
        assert await _count(db) == 40_002
    finally:
        await db.dispose()


async def _index_names(db: Database) -> set[str]:
    """The roll's indexes as the database has them now."""
    async with db.transaction() as session:
        conn = await session.connection()
        return await conn.run_sync(
            lambda sync: {i["name"] for i in inspect(sync).get_indexes(roll.name)}
        )


def _child(
    given: str, family: str, born: str, postcode: str | None = None, address: str | None = None
) -> ChildV1:
    return ChildV1.model_validate(
        {
            "given_name": given,
            "family_name": family,
            "date_of_birth": born,
            **({"postcode": postcode} if postcode else {}),
            **({"address": address} if address else {}),
        }
    )


async def test_a_names_only_row_is_a_candidate_when_its_date_or_postcode_could_be_the_childs(
    tmp_path: Path, database_url: Callable[[str], str]
) -> None:
    """Issue 22: the names key holds no date; a row only it finds comes back when its date
    of birth shares a year, month or day with the record's, or its postcode is the
    record's (blocking.names_row_fits), in SQL as in Python."""
    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url)
    orgs_file, rolls = tmp_path / "orgs.csv", tmp_path / "roll.csv"
    write_organisations(orgs_file, ["100001"])
    rows = {  # Isla Smith, born 2013-03-09 at NE64 6SX, and her namesakes
        "same-year": ("2013-11-20", "NE1 1AA"),
        "same-month": ("2008-03-30", "NE1 1AA"),
        "same-day": ("2010-12-09", "NE1 1AA"),
        "nothing-shared": ("2009-07-21", "NE1 1AA"),
        "same-postcode": ("2009-07-21", "NE64 6SX"),
        "no-postcode": ("2009-07-21", ""),
    }
    rolls.write_text(
        ",".join(ROLL_HEADER)
        + "\n"
        + "".join(
            f"100001,{rid},Isla,Smith,{born},F,,,{postcode},,,\n"
            for rid, (born, postcode) in rows.items()
        ),
        encoding="utf-8",
    )
    db = Database(url)
    try:
        await importing.import_organisations(db, orgs_file)
        await importing.import_roll(db, rolls)
        async with db.transaction() as session:
            found = await repository.candidates(
                session, _child("Isla", "Smith", "2013-03-09", "NE64 6SX")
            )
            without = await repository.candidates(session, _child("Isla", "Smith", "2013-03-09"))
        assert {r.record_id for r in found} == {
            "same-year",
            "same-month",
            "same-day",
            "same-postcode",
        }
        assert {r.record_id for r in without} == {"same-year", "same-month", "same-day"}
    finally:
        await db.dispose()


async def test_a_record_with_no_postcode_and_mangled_names_finds_its_household(
    tmp_path: Path, database_url: Callable[[str], str]
) -> None:
    """Issue 22: "Ily Jone5" with no postcode meets no name key; the address key (house
    number, street sound, town initial) finds the rows at her address whose date could
    be hers (blocking.names_row_fits), in SQL as in Python (relay link)."""
    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url)
    orgs_file, rolls = tmp_path / "orgs.csv", tmp_path / "roll.csv"
    write_organisations(orgs_file, ["100001"])
    rows = {
        "lily": ("Lily", "2014-01-14", "63 School Lane, Wakefield"),
        "sister-same-month": ("Ava", "2011-01-20", "63 School Lane, Wakefield"),
        "sister-nothing-shared": ("Ava", "2016-05-30", "63 School Lane, Wakefield"),
        "other-town": ("Lily", "2014-01-14", "63 School Lane, Leeds"),
        "other-house": ("Lily", "2014-01-14", "36 School Lane, Wakefield"),
        "no-address": ("Lily", "2014-01-14", ""),
    }
    rolls.write_text(
        ",".join(ROLL_HEADER)
        + "\n"
        + "".join(
            f'100001,{rid},{given},Jones,{born},F,,,WF2 5LT,"{address}",,\n'
            for rid, (given, born, address) in rows.items()
        ),
        encoding="utf-8",
    )
    police = _child("Ily", "Jone5", "2014-01-14", address="63 School Lne, Wakefeld")
    db = Database(url)
    try:
        await importing.import_organisations(db, orgs_file)
        await importing.import_roll(db, rolls)
        async with db.transaction() as session:
            found = await repository.candidates(session, police)
            no_address = police.model_copy(update={"address": None})
            without = await repository.candidates(session, no_address)
        assert {r.record_id for r in found} == {"lily", "sister-same-month"}
        assert without == []
        index, issues = await asyncio.to_thread(load_roll, rolls)
        assert issues == []
        assert {r.record_id for r in index.candidates(police)} == {"lily", "sister-same-month"}
        # Both names cut short, no address: their first letters and the date find her.
        async with db.transaction() as session:
            found = await repository.candidates(session, _child("Lil", "Jo", "2014-01-14"))
        assert {r.record_id for r in found} == {"lily", "other-town", "other-house", "no-address"}
        assert {r.record_id for r in index.candidates(_child("Lil", "Jo", "2014-01-14"))} == {
            r.record_id for r in found
        }
    finally:
        await db.dispose()


# --- the national-scale measurement (run as a script) ---------------------------------


async def _bench(url: str, rows: int, lookups: int) -> dict[str, object]:
    # The generated files are kept between runs (generating costs more than importing).
    work = Path(tempfile.gettempdir()) / f"roll-bench-{rows}"
    work.mkdir(exist_ok=True)
    rolls, orgs_file = work / "roll.csv", work / "orgs.csv"
    t = time.perf_counter()
    if not orgs_file.exists():
        write_organisations(orgs_file, write_roll(rolls, rows))
    generated = time.perf_counter() - t
    db = Database(url)
    try:
        await importing.import_organisations(db, orgs_file)
        t = time.perf_counter()
        summary = await importing.import_roll(db, rolls)
        first = time.perf_counter() - t
        t = time.perf_counter()
        await importing.import_roll(db, rolls)  # a full replace of every roll
        again = time.perf_counter() - t
        assert summary.imported == rows, summary.as_dict()
        # Lookups: random children from the file, as police would type them.
        rng = random.Random(3)
        with rolls.open(encoding="utf-8") as f:
            sample = [
                r for i, r in enumerate(csv.reader(f)) if i and rng.random() < 3 * lookups / rows
            ]
        sample = sample[:lookups]
        timings = []
        for row in sample:
            child = _child(row[2], row[3], row[4], row[8])
            t = time.perf_counter()
            async with db.transaction() as session:
                found = await repository.candidates(session, child)
            timings.append((time.perf_counter() - t) * 1000)
            assert any(r.record_id == row[1] for r in found)
        timings.sort()
        return {
            "rows": rows,
            "generate_s": round(generated, 1),
            "import_s": round(first, 2),
            "import_rows_per_s": round(rows / first),
            "replace_s": round(again, 2),
            "replace_rows_per_s": round(rows / again),
            "lookup_p50_ms": round(statistics.median(timings), 2),
            "lookup_p99_ms": round(timings[int(len(timings) * 0.99) - 1], 2),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=500)
    parser.add_argument("--url", required=True, help="an empty database (migrated here)")
    args = parser.parse_args()
    upgrade("router", args.url)
    print(json.dumps(asyncio.run(_bench(args.url, args.rows, args.lookups)), indent=2))


if __name__ == "__main__":
    main()
