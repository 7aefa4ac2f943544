"""The synthetic area (``relay demo-data``): counts, valid identifiers, a valid feed."""

from __future__ import annotations

import csv
import itertools
import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import typer
from pydantic import ValidationError
from typer.testing import CliRunner

from relay.demo_cli import register
from relay.demo_data import (
    LA_CODE,
    ORGANISATION_COLUMNS,
    PLACING_LA_CODE,
    ROLL_COLUMNS,
    DemoArea,
    generate,
    write_area,
)
from schemas.episode import EpisodeEventSubmissionV1
from schemas.errors import field_errors
from schemas.identifiers import (
    normalise_postcode,
    validate_gss_code,
    validate_nhs_number,
    validate_upn,
)

NOW = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def area() -> DemoArea:
    return generate(3000, seed=7, now=NOW)


def test_organisations_of_one_area(area: DemoArea) -> None:
    kinds = Counter(o.kind for o in area.organisations)
    assert kinds["mset-panel"] == kinds["yot"] == 1
    # the area's own authority, and the one that places looked-after children there
    assert kinds["local-authority"] == 2
    assert kinds["school"] >= 20 and kinds["gp-practice"] >= 8
    assert {o.la_code for o in area.organisations if o.kind != "local-authority"} == {LA_CODE}
    assert len({o.code for o in area.organisations}) == len(area.organisations)
    for org in area.organisations:
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


def test_police_records_match_the_roll_exactly(area: DemoArea) -> None:
    school = {(r.org_code, r.given_name, r.family_name, r.date_of_birth) for r in area.school_roll}
    for event, truth in zip(area.feed, area.truth, strict=True):
        child = event["child"]
        facts = (
            child["given_name"],
            child["family_name"],
            date.fromisoformat(child["date_of_birth"]),
        )
        if truth.school_urn:
            assert (truth.school_urn, *facts) in school
        else:
            assert not any(key[1:] == facts for key in school)
        validate_gss_code(truth.responsible_la)


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
