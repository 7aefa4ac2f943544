"""The synthetic area (``relay demo-data``): counts, valid identifiers, a valid feed."""

from __future__ import annotations

import csv
import itertools
import json
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import typer
from pydantic import ValidationError
from rapidfuzz.distance import Levenshtein
from typer.testing import CliRunner

from relay.demo_cli import register
from relay.demo_data import (
    CORRUPTIONS,
    LA_CODE,
    ORGANISATION_COLUMNS,
    PLACING_LA_CODE,
    ROLL_COLUMNS,
    DemoArea,
    RollRow,
    generate,
    write_area,
    write_bench_area,
)
from schemas.episode import EpisodeEventSubmissionV1
from schemas.errors import field_errors
from schemas.identifiers import (
    normalise_postcode,
    validate_nhs_number,
    validate_upn,
)
from services.router.nicknames import are_variants

NOW = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def area() -> DemoArea:
    return generate(3000, seed=7, now=NOW)


def test_organisations_of_one_area(area: DemoArea) -> None:
    kinds = Counter(o.kind for o in area.organisations)
    assert kinds["mset-panel"] == kinds["yot"] == kinds["police-force"] == 1
    # the area's own authority, and the one that places looked-after children there
    assert kinds["local-authority"] == 2
    assert kinds["school"] >= 20 and kinds["gp-practice"] >= 8
    local = [o for o in area.organisations if o.kind not in ("local-authority", "police-force")]
    assert {o.la_code for o in local} == {LA_CODE}
    assert len({o.code for o in area.organisations}) == len(area.organisations)
    [force] = [o for o in area.organisations if o.kind == "police-force"]
    assert force.code == "10" and force.email.endswith(".police.example")
    for org in local:
        assert org.email.endswith(".example.org") and org.escalation_email.endswith(".example.org")
        if org.kind == "school":
            assert len(org.code) == 6 and org.code.isdigit()
        if org.kind == "gp-practice":
            assert org.code[0].isalpha() and org.code[1:].isdigit() and len(org.code) == 6


def test_every_child_on_one_school_and_one_gp_list(area: DemoArea) -> None:
    def current(rows: list) -> Counter:
        return Counter((r.given_name, r.family_name, r.date_of_birth) for r in rows if not r.to)

    assert current(area.school_roll) == current(area.gp_roll)
    assert set(current(area.school_roll).values()) == {1}
    assert len(area.gp_roll) == 3000
    assert 0.01 < len(area.yot_roll) / 3000 < 0.05


def test_identifiers_on_the_rolls_are_valid(area: DemoArea) -> None:
    with_nhs = [r for r in area.gp_roll if r.nhs_number]
    assert 0.75 < len(with_nhs) / len(area.gp_roll) < 0.85
    for row in with_nhs + [r for r in area.yot_roll if r.nhs_number]:
        assert validate_nhs_number(row.nhs_number) == row.nhs_number
    for row in area.school_roll:
        assert validate_upn(row.upn) == row.upn
    for row in area.school_roll + area.gp_roll + area.yot_roll:
        assert normalise_postcode(row.postcode) == row.postcode
        assert row.postcode.startswith(("NE", "TD"))
        age = (NOW.date() - row.date_of_birth).days / 365.25
        assert 5 <= age < 18


def test_leavers_are_on_a_new_roll_from_the_day_after(area: DemoArea) -> None:
    left = [r for r in area.school_roll if r.to]
    assert left and all(r.to < NOW.date() for r in left)
    for old in left:
        new = [
            r
            for r in area.school_roll
            if (r.given_name, r.family_name, r.date_of_birth, r.to)
            == (old.given_name, old.family_name, old.date_of_birth, None)
        ]
        assert len(new) == 1 and new[0].org_code != old.org_code
        assert new[0].from_ == old.to + timedelta(days=1)
        assert new[0].upn == old.upn  # a UPN is for life


def test_feed_validates_except_the_deliberate_rejects(area: DemoArea) -> None:
    invalid = set()
    for event in area.feed:
        try:
            EpisodeEventSubmissionV1.model_validate(event)
        except ValidationError as exc:
            invalid.add(event["event_id"])
            assert [e["field"] for e in field_errors(exc)] == ["child.nhs_number"]
    assert invalid == area.invalid_event_ids
    assert 0.005 < len(invalid) / len(area.feed) < 0.02


def test_feed_shape(area: DemoArea) -> None:
    feed = area.feed
    assert len({e["event_id"] for e in feed}) == len(feed)
    assert {e["force_code"] for e in feed} == {"10"}
    times = [datetime.fromisoformat(e["occurred_at"]) for e in feed]
    assert times == sorted(times) and max(times) <= NOW
    assert min(times) >= NOW - timedelta(days=7)
    assert all(e["occurred_at"].endswith("+00:00") for e in feed)
    types = Counter(e["type"] for e in feed)
    assert set(types) == {
        "reported",
        "still-missing",
        "risk-changed",
        "found",
        "returned",
        "closed",
    }
    assert all(e["police_contact"]["email"].endswith("@northumbria.police.example") for e in feed)

    missing_children = {t.child_id for t in area.truth}
    assert 0.04 < len([c for c in missing_children if c.startswith("C")]) / 3000 < 0.07
    episodes_per_child = Counter()
    for event, truth in zip(feed, area.truth, strict=True):
        assert event["event_id"] == truth.event_id
        if event["type"] == "reported":
            episodes_per_child[truth.child_id] += 1
    assert max(episodes_per_child.values()) >= 3  # repeat missing

    valid = [e for e in feed if e["event_id"] not in area.invalid_event_ids]
    with_nhs = [e for e in valid if "nhs_number" in e["child"]]
    assert 0.2 < len(with_nhs) / len(valid) < 0.4
    off_roll = [t for t in area.truth if not t.school_urn]
    assert 0.005 < len(off_roll) / len(feed) < 0.05
    placed = [e for e in feed if e["child"].get("responsible_la") == PLACING_LA_CODE]
    assert placed and all(e["child"]["looked_after"] for e in placed)
    assert any(e["type"] == "risk-changed" and e["risk"]["grade"] == "high" for e in feed)
    assert any(e.get("found_with") for e in feed)


def test_episodes_run_in_order_and_do_not_overlap(area: DemoArea) -> None:
    by_episode: dict[str, list[dict]] = {}
    for event in area.feed:
        by_episode.setdefault(event["episode_ref"], []).append(event)
    order = ["reported", "still-missing", "risk-changed", "found", "returned", "closed"]
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for ref, events in by_episode.items():
        assert ref.startswith("10-2026-") and len(ref) == len("10-2026-000123")
        kinds = [e["type"] for e in events]
        assert kinds[0] == "reported"
        assert kinds == sorted(kinds, key=order.index)
        child = events[0]["child"]
        key = f"{child['given_name']}|{child['family_name']}|{child['date_of_birth']}"
        spans.setdefault(key, []).append(
            (
                datetime.fromisoformat(events[0]["occurred_at"]),
                datetime.fromisoformat(events[-1]["occurred_at"]),
            )
        )
    for windows in spans.values():
        windows.sort()
        for (_, end), (start, _) in itertools.pairwise(windows):
            assert end <= start


def _roll_index(area: DemoArea) -> dict[str, RollRow]:
    return {r.record_id: r for r in area.school_roll + area.gp_roll + area.yot_roll}


def test_truth_names_the_roll_records_the_child_is_on_that_day(area: DemoArea) -> None:
    by_id = _roll_index(area)
    children = {c.child_id: c for c in area.children}
    for event, truth in zip(area.feed, area.truth, strict=True):
        on = datetime.fromisoformat(event["occurred_at"]).date()
        if truth.child_id.startswith("X"):  # on no roll
            assert not (truth.school_record_id or truth.gp_record_id or truth.school_urn)
            continue
        child = children[truth.child_id]
        school, gp = by_id[truth.school_record_id], by_id[truth.gp_record_id]
        assert (school.org_code, gp.org_code) == (truth.school_urn, truth.gp_code)
        for row in (school, gp):
            assert (row.given_name, row.family_name, row.date_of_birth) == (
                child.given_name,
                child.family_name,
                child.date_of_birth,
            )
            assert (row.from_ or on) <= on <= (row.to or on)
        if truth.yot_record_id:
            assert by_id[truth.yot_record_id].org_code == truth.yot_code == "YOT-E06000057"
        assert truth.twin == bool(child.twin_of)


def test_clean_police_records_match_the_roll_exactly(area: DemoArea) -> None:
    by_id = _roll_index(area)
    for event, truth in zip(area.feed, area.truth, strict=True):
        if truth.corruption or not truth.school_record_id:
            continue
        child, row = event["child"], by_id[truth.school_record_id]
        assert (child["given_name"], child["family_name"], child["date_of_birth"]) == (
            row.given_name,
            row.family_name,
            row.date_of_birth.isoformat(),
        )
        assert child["postcode"] == row.postcode


def test_every_kind_of_error_appears_at_realistic_rates(area: DemoArea) -> None:
    episodes = {}
    for event, truth in zip(area.feed, area.truth, strict=True):
        episodes[event["episode_ref"]] = truth.corruption
    per_episode = Counter(len(kinds) for kinds in episodes.values())
    assert set(per_episode) <= {0, 1, 2}
    assert 0.5 < per_episode[0] / len(episodes) < 0.7
    assert 0 < per_episode[2] < per_episode[1]
    kinds = Counter(k for ks in episodes.values() for k in ks)
    assert set(kinds) == set(CORRUPTIONS), kinds


def test_each_error_is_what_it_says(area: DemoArea) -> None:
    by_id = _roll_index(area)
    seen = Counter()
    for event, truth in zip(area.feed, area.truth, strict=True):
        if len(truth.corruption) != 1 or not truth.school_record_id:
            continue
        (kind,) = truth.corruption
        police, row = event["child"], by_id[truth.school_record_id]
        given, family = police["given_name"], police["family_name"]
        born = date.fromisoformat(police["date_of_birth"])
        if kind == "nickname":
            assert given != row.given_name and are_variants(given.lower(), row.given_name.lower())
        elif kind == "family-typo":
            assert family != row.family_name
            assert Levenshtein.distance(family, row.family_name) == 1 or (
                len(family) == len(row.family_name) and sorted(family) == sorted(row.family_name)
            )
        elif kind == "names-swapped":
            assert (given, family) == (row.family_name, row.given_name)
        elif kind == "dob-swap":
            assert (born.year, born.month, born.day) == (
                row.date_of_birth.year,
                row.date_of_birth.day,
                row.date_of_birth.month,
            )
        elif kind == "dob-typo":
            a, b = born.isoformat(), row.date_of_birth.isoformat()
            assert sum(x != y for x, y in zip(a, b, strict=True)) == 1
        elif kind == "no-postcode":
            assert "postcode" not in police and "address" not in police
        elif kind == "old-postcode":
            assert police["postcode"] != row.postcode
        elif kind == "double-barrel-part":
            assert "-" in row.family_name and family in row.family_name.split("-")
        elif kind == "name-change":
            assert family != row.family_name and police["postcode"] == row.postcode
        if kind not in ("dob-swap", "dob-typo"):
            assert born == row.date_of_birth
        seen[kind] += 1
    assert len(seen) >= 8, seen


def test_twins_and_siblings(area: DemoArea) -> None:
    children = {c.child_id: c for c in area.children}
    twins = [c for c in area.children if c.twin_of]
    assert 0.015 < len(twins) / len(area.children) < 0.05
    for child in twins:
        other = children[child.twin_of]
        assert other.twin_of == child.child_id
        assert (child.family_name, child.date_of_birth, child.postcode, child.address) == (
            other.family_name,
            other.date_of_birth,
            other.postcode,
            other.address,
        )
        assert not are_variants(child.given_name.lower(), other.given_name.lower())
        assert child.school_urn == other.school_urn and child.nhs_number != other.nhs_number
    siblings = [c for c in area.children if c.sibling_of]
    assert siblings
    for child in siblings:
        other = children[child.sibling_of]
        assert (child.family_name, child.address) == (other.family_name, other.address)
        assert child.date_of_birth != other.date_of_birth
    assert any(t.twin for t in area.truth)  # every feed has twin cases
    assert any("-" in c.family_name for c in area.children)


def test_three_thousand_children_in_well_under_a_second() -> None:
    started = time.perf_counter()
    generate(3000, seed=3, now=NOW)
    # Generous bound (a loaded CI machine); typically about 0.15 s.
    assert time.perf_counter() - started < 1.5


def test_bench_area_streams_a_roll_with_records_and_truth(tmp_path: Path) -> None:
    bench = write_bench_area(tmp_path, roll_rows=4000, records=200, seed=2, now=NOW)
    assert 3900 <= bench.roll_rows <= 4100
    with bench.rolls[0].open(encoding="utf-8") as handle:
        school = {r["record_id"]: r for r in csv.DictReader(handle)}
    with bench.rolls[1].open(encoding="utf-8") as handle:
        gp = {r["record_id"]: r for r in csv.DictReader(handle)}
    with bench.rolls[2].open(encoding="utf-8") as handle:
        yot = {r["record_id"]: r for r in csv.DictReader(handle)}
    assert [p.name for p in bench.rolls] == ["roll_schools.csv", "roll_gps.csv", "roll_yot.csv"]
    assert len(school) + len(gp) + len(yot) == bench.roll_rows
    assert yot  # the truth names YOT records, so their roll is written too
    assert {t.yot_record_id for t in bench.truth if t.yot_record_id} <= set(yot)
    assert len(bench.records) == len(bench.truth) == 200
    assert any(t.twin for t in bench.truth)
    assert any(not t.school_record_id for t in bench.truth)  # children on no roll
    for record, truth in zip(bench.records, bench.truth, strict=True):
        assert record["record_id"] == truth.event_id
        if truth.school_record_id:
            row = school[truth.school_record_id]
            assert gp[truth.gp_record_id]["date_of_birth"] == row["date_of_birth"]
            if not truth.corruption:
                assert record["child"]["family_name"] == row["family_name"]
    with (tmp_path / "records.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["record_id"] for r in rows] == [r["record_id"] for r in bench.records]
    assert {r["org_code"] for r in rows} == {""}


def test_same_seed_same_area_other_seed_other_area() -> None:
    first, again = generate(200, seed=42, now=NOW), generate(200, seed=42, now=NOW)
    assert first.feed == again.feed and first.school_roll == again.school_roll
    assert first.organisations == again.organisations and first.truth == again.truth
    assert generate(200, seed=43, now=NOW).gp_roll != first.gp_roll


def test_files_and_cli(tmp_path: Path) -> None:
    app = typer.Typer()

    @app.callback()
    def _root() -> None: ...

    register(app)
    out = tmp_path / "area"
    result = CliRunner().invoke(
        app,
        [
            "demo-data",
            "--children",
            "300",
            "--out",
            str(out),
            "--seed",
            "5",
            "--now",
            "2026-11-23T14:30:00+00:00",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["children"] == 300
    with (out / "organisations.csv").open(encoding="utf-8") as handle:
        assert tuple(csv.DictReader(handle).fieldnames or ()) == ORGANISATION_COLUMNS
    for name in ("roll_schools.csv", "roll_gps.csv", "roll_yot.csv"):
        with (out / name).open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert tuple(rows[0]) == ROLL_COLUMNS
        assert len(rows) == summary["files"][name]
    lines = (out / "feed.ndjson").read_text(encoding="utf-8").splitlines()
    assert len(lines) == summary["files"]["feed.ndjson"]
    assert [json.loads(line) for line in lines] == generate(300, seed=5, now=NOW).feed
    with (out / "truth.csv").open(encoding="utf-8") as handle:
        truth = list(csv.DictReader(handle))
    assert [t["event_id"] for t in truth] == [json.loads(line)["event_id"] for line in lines]
    assert write_area(generate(300, seed=5, now=NOW), tmp_path / "again") == summary["files"]
    for name in summary["files"]:
        assert (out / name).read_bytes() == (tmp_path / "again" / name).read_bytes()


def test_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="now"):
        generate(10, now=datetime(2026, 11, 23))
