"""The independent generator's labels say what each record went through, and saying so
changes none of the records a seed gives (issue 22's sets stay comparable). GP lists,
when asked for, hold a household's children at one practice under their school rows'
ids, label the children they hold, and change nothing else a seed gives."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from hashlib import sha256
from pathlib import Path
from random import Random

from relay.corruption import (
    GP_PRACTICES,
    HELD_OUT,
    ON,
    TUNING,
    Child,
    corrupt,
    generate,
    write_set,
)
from relay.corruption import TestSet as GeneratedSet  # "Test*": pytest would collect it
from tests.matching_files import evaluated

KINDS = {"date_digit", "no_postcode", "no_address"}
FIELDS = {"given_name", "family_name", "address"}


def test_recording_the_modifications_draws_nothing_from_the_seed() -> None:
    child = Child(1, "olivia", "smith", ON, "female", "LS6 1AB", "1 Mill Lane, Leeds")
    for seed in range(200):
        applied: list[str] = []
        assert corrupt(Random(seed), child, HELD_OUT, applied) == corrupt(
            Random(seed), child, HELD_OUT
        )


def test_each_label_lists_the_modifications_its_record_carries() -> None:
    data = generate(seed=3, children=800, records=300, mix=TUNING)
    records = {r["record_id"]: r for r in data.records}
    kinds = [label["modifications"] for label in data.labels]
    assert any(not k for k in kinds) and any("+" in k for k in kinds)
    for label in data.labels:
        for mod in filter(None, label["modifications"].split("+")):
            kind, _, target = mod.partition(":")
            assert kind in KINDS if not target else target in FIELDS, mod
        if "no_postcode" in label["modifications"]:
            assert records[label["record_id"]]["postcode"] == ""


# Written by the generator before GP lists existed (seed 3, 800 children, 300 records,
# tuning mix): at coverage 0 a seed must still give these very files.
BEFORE_GP_LISTS = {
    "roll.csv": "d447b4795ffb614a5a0021bbbef6871e6acf2bac26e72416d29ec22136414c5d",
    "records.csv": "1930f7f3fdd9e5b5c557f0136ed6c4eefca991dd6f9c8a2a20afb93eca49f2b4",
    "labels.csv": "eb09fb1b4dc60672f4ec8bbb9458a9ab9c35c407c3cd1b6efa5773e2cfb781fb",
}


def _school_ids(data: GeneratedSet) -> set[str]:
    return {r["record_id"] for r in data.roll if r["org_code"] not in GP_PRACTICES}


def test_without_gp_lists_a_seed_gives_the_files_it_gave_before(tmp_path: Path) -> None:
    data = generate(seed=3, children=800, records=300, mix=TUNING, gp_coverage=0.0)
    written = {p.name: sha256(p.read_bytes()).hexdigest() for p in write_set(tmp_path, data)}
    assert written == BEFORE_GP_LISTS
    assert data.gp_rows == 0 and data.unlisted == 800 - len(data.roll)


def test_gp_lists_change_no_school_row_and_no_record() -> None:
    before = generate(seed=5, children=800, records=300, mix=HELD_OUT)
    after = generate(seed=5, children=800, records=300, mix=HELD_OUT, gp_coverage=0.6)
    assert after.roll[: len(before.roll)] == before.roll and after.records == before.records
    assert 0.5 < after.gp_rows / 800 < 0.7


def test_at_full_coverage_every_child_is_on_a_gp_list_and_every_record_on_the_roll() -> None:
    data = generate(seed=3, children=800, records=800, mix=TUNING, gp_coverage=1.0)
    assert data.gp_rows == 800 and data.unlisted == 0
    gp_ids = {r["record_id"] for r in data.roll if r["org_code"] in GP_PRACTICES}
    assert {label["roll_record_id"] for label in data.labels} == gp_ids
    # A child on a school roll too has both rows under one id: a match to either is right.
    assert _school_ids(data) < gp_ids


def test_a_households_children_share_a_practice() -> None:
    mix = replace(TUNING, missing_on_roll=0.0)  # every row keeps its household's address
    data = generate(seed=8, children=2000, records=2000, mix=mix, gp_coverage=1.0)
    group = {label["roll_record_id"]: label["group"] for label in data.labels}
    practices: dict[str, set[str]] = defaultdict(set)
    twins: Counter[str] = Counter()
    for row in data.roll:
        if row["org_code"] in GP_PRACTICES:
            practices[row["address"]].add(row["org_code"])
            twins[row["address"]] += group[row["record_id"]] == "twin"
    assert all(len(codes) == 1 for codes in practices.values())
    assert sum(n >= 2 for n in twins.values()) > 20  # twins to share one
    assert set().union(*practices.values()) == set(GP_PRACTICES)


def test_a_child_on_no_school_roll_but_on_a_gp_list_is_labelled_with_its_gp_row() -> None:
    before = generate(seed=4, children=1500, records=1500, mix=HELD_OUT)
    data = generate(seed=4, children=1500, records=1500, mix=HELD_OUT, gp_coverage=0.5)
    off_school = {b["record_id"] for b in before.labels if not b["roll_record_id"]}
    gp_rows = {r["record_id"]: r for r in data.roll if r["org_code"] in GP_PRACTICES}
    records = {r["record_id"]: r for r in data.records}
    listed = 0
    for label in data.labels:
        if label["record_id"] not in off_school:
            continue
        if not label["roll_record_id"]:
            continue  # on no list either
        row = gp_rows.get(label["roll_record_id"])
        assert row is not None and label["roll_record_id"] not in _school_ids(data)
        listed += 1
        if not label["modifications"]:  # the record as the child is: the row must be it
            record = records[label["record_id"]]
            fields = ("given_name", "family_name", "date_of_birth", "sex")
            assert {f: row[f] for f in fields} == {f: record[f] for f in fields}
    assert 0.3 < listed / len(off_school) < 0.7
    assert data.unlisted == sum(not label["roll_record_id"] for label in data.labels)


def test_the_cli_says_how_many_are_on_gp_lists_and_refuses_a_share_above_one(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from relay.cli import app

    runner = CliRunner()
    out = tmp_path / "set"
    args = ["matching", "generate", "--out", str(out), "--seed", "6", "--children", "300"]
    made = runner.invoke(app, [*args, "--records", "300", "--gp-coverage", "1"])
    assert made.exit_code == 0, made.output
    assert "(300 on GP lists)" in made.stdout
    assert "0 of 300 children on no roll or list" in made.stdout
    figures, _ = evaluated(runner, out)
    assert figures["on_roll"] == figures["records"] == 300
    refused = runner.invoke(app, [*args, "--gp-coverage", "1.5"])
    assert refused.exit_code != 0 and "--gp-coverage" in refused.output
