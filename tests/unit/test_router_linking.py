"""``relay link``: records matched against a roll file, decisions written as CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from relay.cli import app

ROLL = """org_code,record_id,given_name,family_name,date_of_birth,nhs_number,from,to
100001,S1,Zoë,O'Brien,2012-05-31,,2020-09-01,
100001,S2,Jack,Smith,2011-01-01,,,
100001,T1,Ann,Lee,2013-03-03,,,
100001,T2,Ann,Lee,2013-03-03,,,
A81001,P1,Zoe,OBrien,2012-05-31,9434765919,,
100002,L1,Zoe,OBrien,2012-05-31,,2015-09-01,2020-07-31
"""
RECORDS = """record_id,given_name,family_name,date_of_birth,nhs_number
Q1,Zoe,O'BRIEN,2012-05-31,
Q2,Ann,Lee,2013-03-03,
Q3,Nobody,Known,2014-04-04,
Q4,Zoe,Obrien,2012-05-31,9434765919
Q5,Bad,Date,2014-02-30,
Q6,Jackie,Smyth,2011-01-01,
Q7,OBrien,Zoe,2012-05-31,
"""


def test_link_writes_the_best_decision_for_each_record(tmp_path: Path) -> None:
    (tmp_path / "roll.csv").write_text(ROLL, encoding="utf-8")
    (tmp_path / "records.csv").write_text(RECORDS, encoding="utf-8")
    out = tmp_path / "decisions.csv"
    result = CliRunner().invoke(
        app,
        [
            "link",
            "--roll",
            str(tmp_path / "roll.csv"),
            "--records",
            str(tmp_path / "records.csv"),
            "--out",
            str(out),
            "--on",
            "2026-03-10",
        ],
    )
    assert result.exit_code == 0, result.output
    with out.open(newline="") as handle:
        rows = [
            (r["record_id"], r["decision"], r["roll_record_id"], r["org_code"])
            for r in csv.DictReader(handle)
        ]
    assert rows == [
        ("Q1", "match", "S1", "100001"),
        ("Q2", "review", "T1", "100001"),
        ("Q3", "no-match", "", ""),
        ("Q4", "match", "P1", "A81001"),  # the NHS number makes the GP record the best
        ("Q6", "match", "S2", "100001"),
        ("Q7", "match", "S1", "100001"),
    ]
    assert "line 6: date_of_birth" in result.output
    assert "4 match, 1 review, 1 no-match" in " ".join(result.output.split())


def test_the_index_finds_candidates_through_blocking_keys(tmp_path: Path) -> None:
    from datetime import date

    from schemas.episode import ChildV1
    from services.router.linking import load_roll

    (tmp_path / "roll.csv").write_text(ROLL, encoding="utf-8")
    index, issues = load_roll(tmp_path / "roll.csv")
    assert issues == []
    swapped = ChildV1(given_name="Obrien", family_name="Zoe", date_of_birth=date(2012, 5, 31))
    assert {r.record_id for r in index.candidates(swapped)} == {"S1", "P1", "L1"}
    dob_typo = ChildV1(given_name="Jack", family_name="Smith", date_of_birth=date(2011, 1, 7))
    assert {r.record_id for r in index.candidates(dob_typo)} == {"S2"}
    nobody = ChildV1(given_name="Nobody", family_name="Known", date_of_birth=date(2014, 4, 4))
    assert index.candidates(nobody) == []
