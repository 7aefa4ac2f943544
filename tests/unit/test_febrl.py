"""FEBRL's benchmark recast as a roll and police records (relay/febrl.py): dates become a
child's, postcodes UK-format ones with each digit in its own character, originals that
cannot be roll rows and a seeded share of the rest leave their duplicates on no roll,
and ``relay matching evaluate`` reads what ``relay matching febrl`` writes."""

from __future__ import annotations

import json
from datetime import date
from itertools import product
from pathlib import Path

import pytest

from relay.corruption import GP_PRACTICES
from relay.febrl import (
    FEBRL_COLUMNS,
    SCHOOL,
    child_date,
    child_year,
    read_febrl,
    recast,
    uk_postcode,
)
from schemas.identifiers import normalise_postcode
from services.router.comparisons import compare_postcode
from tests.matching_files import DEPLOYED_MODEL, evaluated

# Made-up rows in FEBRL's layout (a space after each comma, as its files have).
ROWS = [
    "rec-0-org, ada, moss, 4, reid place, , alton, 2600, nsw, 19560409, 1111111",
    "rec-0-dup-0, ada, mosz, 4, reid place, , alton, 2600, nsw, 19560409, 1111111",
    "rec-0-dup-1, edna, moss, , reid place, , alton, 2601, nsw, 19560499, 1111111",
    "rec-1-org, , vale, 9, kent street, the mews, bream, 3021, vic, 19900101, 2222222",
    "rec-1-dup-0, tom, vale, 9, kent street, the mews, bream, 3021, vic, 19900101, 2222222",
    "rec-2-org, ian, cole, 12, wren road, , dunmore, 4870, qld, , 3333333",
    "rec-2-dup-0, ian, cole, 12, wren road, , dunmore, 4870, qld, 19710203, 3333333",
    "rec-3-dup-0, una, holt, 1, ash lane, , esk, 7000, tas, 19800505, 4444444",
]


def _rows(lines: list[str]) -> list[dict[str, str]]:
    return [
        dict(zip(FEBRL_COLUMNS, (c.strip() for c in line.split(",")), strict=True))
        for line in lines
    ]


GIVEN = (
    "amy", "ben", "cara", "dan", "eve", "finn", "gail", "hugo", "iris", "jack", "kate",
    "liam", "mia", "ned", "olga", "paul",
)  # fmt: skip
FAMILY = (
    "ash", "birch", "cedar", "elm", "fir", "hazel", "larch", "maple", "oak", "pine",
    "rowan", "yew",
)  # fmt: skip


def _originals(n: int) -> list[str]:
    """``n`` originals and one exact duplicate of each, no two alike."""
    rows = [
        f"{GIVEN[i % 16]}, {FAMILY[i % 12]}, {i + 1}, mill lane, , town, 2{i % 10}{i // 10}0, nsw, "
        f"{1960 + i}0{1 + i % 9}{10 + i % 18}, 1"
        for i in range(n)
    ]
    return [f"rec-{i}-org, {row}" for i, row in enumerate(rows)] + [
        f"rec-{i}-dup-0, {row}" for i, row in enumerate(rows)
    ]


def test_a_birth_year_becomes_a_childs_and_equal_years_stay_equal() -> None:
    assert child_date("19560409") == "2008-04-09"  # 1956 = 12 x 163
    assert child_date("19570409") == "2009-04-09"
    assert {child_year(y) for y in range(1900, 2001)} == set(range(2008, 2020))
    for year in range(1901, 2001):  # every real date stays real, leap days included
        assert child_year(year) % 4 == year % 4
    assert child_date("19960229") == date(child_year(1996), 2, 29).isoformat()
    assert child_date("19560499") == child_date("19561301") == child_date("") == ""
    assert child_date("1956049") == child_date("195604091") == ""


def test_a_postcode_keeps_each_digit_in_its_own_place() -> None:
    codes = ["".join(d) for d in product("0123456789", repeat=4)]
    mapped = {code: uk_postcode(code) for code in codes}
    assert len(set(mapped.values())) == len(codes)  # equal stays equal, different different
    for code, postcode in mapped.items():
        assert normalise_postcode(postcode) == postcode, code  # the project's own check
    levels = {"2600": "unit", "2601": "sector", "2610": "district", "2700": "area"}
    for other, level in levels.items():
        assert compare_postcode(uk_postcode("2600"), uk_postcode(other)) == level
    assert compare_postcode(uk_postcode("2600"), uk_postcode("3600")) == "disagree"
    assert uk_postcode("260") == uk_postcode("26O0") == uk_postcode("") == ""


def test_originals_become_the_roll_and_duplicates_police_records() -> None:
    result = recast(_rows(ROWS), off_roll=0.0)
    roll = {row["record_id"]: row for row in result.data.roll}
    assert set(roll) == {"rec-0-org"}  # rec-1 has no given name, rec-2 no date of birth
    assert roll["rec-0-org"]["address"] == "4 reid place, alton"
    assert roll["rec-0-org"]["postcode"] == "C6 0AA" and roll["rec-0-org"]["sex"] == ""
    labels = {row["record_id"]: row for row in result.data.labels}
    assert {rid: row["roll_record_id"] for rid, row in labels.items()} == {
        "rec-0-dup-0": "rec-0-org",
        "rec-0-dup-1": "rec-0-org",
        "rec-1-dup-0": "",  # its original lacks a given name
        "rec-2-dup-0": "",  # its original lacks a date of birth
        "rec-3-dup-0": "",  # its original is in no file
    }
    assert labels["rec-0-dup-0"]["modifications"] == "family_name"
    assert labels["rec-0-dup-1"]["modifications"] == (
        "given_name+empty:date_of_birth+postcode+address"
    )
    records = {row["record_id"]: row for row in result.data.records}
    assert records["rec-0-dup-1"]["date_of_birth"] == ""  # 99 April: not a date
    assert records["rec-0-dup-1"]["address"] == "reid place, alton"
    assert records["rec-1-dup-0"]["address"] == "9 kent street, the mews, bream"
    counts = result.counts
    assert counts["originals off the roll: no given_name"] == 1
    assert counts["originals off the roll: no date_of_birth"] == 1
    assert counts["duplicates whose original is in no file"] == 1
    assert counts["roll rows"] == 1 and counts["police records of a child on the roll"] == 2


def test_a_seeded_share_of_originals_is_left_off_the_roll() -> None:
    rows = _rows(_originals(40))
    result = recast(rows, off_roll=0.25, seed=7)
    assert len(result.data.roll) == 30
    on_roll = {row["record_id"] for row in result.data.roll}
    for label in result.data.labels:
        original = label["record_id"].replace("-dup-0", "-org")
        assert label["roll_record_id"] == (original if original in on_roll else "")
    assert recast(rows, off_roll=0.25, seed=7).data == result.data
    assert {r["record_id"] for r in recast(rows, off_roll=0.25, seed=8).data.roll} != on_roll
    assert result.counts["originals off the roll: drawn (--off-roll)"] == 10


def test_the_cli_writes_what_evaluate_reads(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from relay.cli import app

    originals, duplicates = tmp_path / "a.csv", tmp_path / "b.csv"
    header = ", ".join(FEBRL_COLUMNS)
    lines = _originals(30)
    stranger = ROWS[-1].replace("rec-3-", "rec-99-")  # its original is in neither file
    originals.write_text("\n".join([header, *lines[:30]]) + "\n", encoding="utf-8")
    duplicates.write_text("\n".join([header, *lines[30:], stranger]) + "\n", encoding="utf-8")
    assert len(read_febrl(duplicates)) == 31
    runner = CliRunner()
    out = tmp_path / "set"
    made = runner.invoke(
        app,
        ["matching", "febrl", "--dataset", str(originals), "--dataset2", str(duplicates),
         "--out", str(out), "--off-roll", "0.1"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "27  roll rows" in made.stdout
    figures, printed = evaluated(runner, out)
    assert figures["records"] == 31 and figures["on_roll"] == 27
    assert figures["right_matches"] == 27 and figures["wrong_matches"] == 0
    for output in (made.stdout, printed):
        assert "cara" not in output and "cedar" not in output and "una" not in output


def test_a_file_that_is_not_febrl_is_refused(tmp_path: Path) -> None:
    from relay.febrl import FebrlFormatError

    path = tmp_path / "roll.csv"
    path.write_text("record_id,given_name\nR1,x\n", encoding="utf-8")
    with pytest.raises(FebrlFormatError, match="not a FEBRL dataset"):
        read_febrl(path)


def test_gp_lists_add_rows_of_the_originals_and_change_nothing_else() -> None:
    rows = _rows(_originals(40))
    before = recast(rows, off_roll=0.25, seed=7)
    assert recast(rows, off_roll=0.25, seed=7, gp_coverage=0.0) == before
    after = recast(rows, off_roll=0.25, seed=7, gp_coverage=1.0)
    assert after.data.roll[:30] == before.data.roll and after.data.records == before.data.records
    # Every original is on a list, the school's 30 and the 10 left off its roll, each a
    # row the same as its original's: their duplicates are all on the roll now.
    gp_rows = after.data.roll[30:]
    assert {row["org_code"] for row in gp_rows} <= set(GP_PRACTICES)
    assert {row["record_id"] for row in gp_rows} == {f"rec-{i}-org" for i in range(40)}
    school = {row["record_id"]: row for row in before.data.roll}
    for row in gp_rows:
        if row["record_id"] in school:
            assert {**row, "org_code": SCHOOL} == school[row["record_id"]]
    assert [label["roll_record_id"] for label in before.data.labels].count("") == 10
    assert all(label["roll_record_id"] for label in after.data.labels)
    assert after.counts["GP list rows"] == 40 and after.counts["originals on no roll or list"] == 0
    half = recast(rows, off_roll=0.25, seed=7, gp_coverage=0.5)  # a higher share only adds
    listed = {row["record_id"] for row in half.data.roll[30:]}
    assert 10 < len(listed) < 30 and {row["org_code"] for row in half.data.roll[30:]} == {
        row["org_code"] for row in gp_rows if row["record_id"] in listed
    }
    # An original that cannot be a roll row is on no list either.
    incomplete = recast(_rows(ROWS), off_roll=0.0, gp_coverage=1.0)
    assert [row["record_id"] for row in incomplete.data.roll] == ["rec-0-org", "rec-0-org"]
    with pytest.raises(ValueError, match=r"gp_coverage 1\.5 is not a share"):
        recast(rows, gp_coverage=1.5)


def _another_name_at_home(n: int) -> tuple[list[str], list[str]]:
    """``n`` originals at homes of their own, and a duplicate of each of the first 20
    under another given name altogether: the record the rule ``auto`` decides."""
    given = ("xanthe", "yusuf", "zebedee", "quentin", "rosalind", "winifred")
    originals = [
        f"rec-{i}-org, {GIVEN[i % 16]}, {FAMILY[i % 12]}{'abcdefghij'[i // 120 % 10]}, "
        f"{i + 1}, mill lane, , town{i % 7}, 2{i % 10}{i // 10 % 10}0, nsw, "
        f"19{60 + i % 12}{1 + i // 12 % 12:02d}{1 + i // 144 % 28:02d}, 1"
        for i in range(n)
    ]
    duplicates = [
        line.replace("-org,", "-dup-0,").replace(f", {GIVEN[i % 16]},", f", {given[i % 6]},")
        for i, line in enumerate(originals[:20])
    ]
    return originals, duplicates


@pytest.mark.parametrize(
    ("coverage", "said", "right"),
    [
        ("1", "GP lists hold 100.0 % of 1,100 school children: match", 20),
        ("0", "GP lists hold 0.0 % of 1,100 school children, fewer than 99 %: review", 0),
    ],
)
def test_with_gp_lists_auto_matches_another_given_name_at_home(
    tmp_path: Path, coverage: str, said: str, right: int
) -> None:
    """FEBRL replaces given names and has no twins: the deployed rule ``auto`` matches
    such a record once the directory holds its GP lists, and sends it to a person
    without them."""
    from typer.testing import CliRunner

    from relay.cli import app

    originals, duplicates = _another_name_at_home(1_100)
    dataset = tmp_path / "febrl.csv"
    header = ", ".join(FEBRL_COLUMNS)
    dataset.write_text("\n".join([header, *originals, *duplicates]) + "\n", encoding="utf-8")
    runner = CliRunner()
    out = tmp_path / "set"
    args = ["matching", "febrl", "--dataset", str(dataset), "--out", str(out)]
    made = runner.invoke(app, [*args, "--off-roll", "0", "--gp-coverage", coverage])
    assert made.exit_code == 0, made.output
    files = [f"--{n}={out / f'{n}.csv'}" for n in ("roll", "records", "labels")]
    result = runner.invoke(
        app, ["matching", "evaluate", *files, "--model", str(DEPLOYED_MODEL), "--json",
              "--other-given-name", "auto"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"other_given_name_at_home=auto: {said}" in result.stderr
    figures = json.loads(result.stdout[result.stdout.index("{") :])
    assert figures["records"] == figures["on_roll"] == 20
    assert figures["right_matches"] == right and figures["wrong_matches"] == 0
    assert figures["reviews"] == 20 - right
