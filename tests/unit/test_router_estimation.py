"""Estimating m and u from unlabelled data (issue 22): EM recovers known m, u comes from
random pairs, term frequencies keep only names several children hold."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from math import prod
from pathlib import Path
from random import Random

import pytest

from relay.corruption import TUNING, generate
from services.router.estimation import (
    M_FLOOR,
    SESSIONS,
    expectation_maximisation,
    floored,
    term_frequencies,
    train,
)
from services.router.model import LEVELS, Thresholds, model_from_dict, model_to_dict
from services.router.weights import BASELINE

FIELDS = ("sex", "address", "postcode")


def _truth() -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    m = {
        "sex": {"agree": 0.97, "disagree": 0.03},
        "address": {"same": 0.7, "similar": 0.1, "disagree": 0.2},
        "postcode": {"unit": 0.8, "sector": 0.05, "district": 0.05, "area": 0.05, "disagree": 0.05},
    }
    u = {
        "sex": {"agree": 0.5, "disagree": 0.5},
        "address": {"same": 0.01, "similar": 0.09, "disagree": 0.9},
        "postcode": {"unit": 0.01, "sector": 0.04, "district": 0.1, "area": 0.25, "disagree": 0.6},
    }
    return m, u


def test_em_recovers_m_and_the_prior_from_pattern_counts() -> None:
    m, u = _truth()
    prior, pairs = 0.3, 1_000_000
    patterns: Counter[tuple[str, ...]] = Counter(
        {
            levels: round(
                pairs
                * (
                    prior * prod(m[f][lv] for f, lv in zip(FIELDS, levels, strict=True))
                    + (1 - prior) * prod(u[f][lv] for f, lv in zip(FIELDS, levels, strict=True))
                )
            )
            for levels in itertools.product(*(LEVELS[f] for f in FIELDS))
        }
    )
    start = {f: {lv: BASELINE.m_u[f][lv][0] for lv in LEVELS[f]} for f in FIELDS}
    got, got_prior, _ = expectation_maximisation(
        patterns, FIELDS, start, u, prior=0.1, iterations=500, tolerance=1e-9
    )
    assert got_prior == pytest.approx(prior, abs=0.01)
    for f in FIELDS:
        for lv in LEVELS[f]:
            assert got[f][lv] == pytest.approx(m[f][lv], abs=0.01), (f, lv)


def test_missing_values_teach_em_nothing() -> None:
    m, u = _truth()
    start = {f: dict(m[f]) for f in FIELDS}
    patterns: Counter[tuple[str, ...]] = Counter({("agree", "missing", "missing"): 1000})
    got, _, _ = expectation_maximisation(patterns, FIELDS, start, u, iterations=5)
    assert got["postcode"]["unit"] == pytest.approx(1 / len(LEVELS["postcode"]), abs=0.01)


def test_no_level_is_ever_impossible() -> None:
    m = floored({"unit": 1.0, "sector": 0.0, "district": 0.0, "area": 0.0, "disagree": 0.0})
    assert min(m.values()) >= M_FLOOR * 0.97
    assert sum(m.values()) == pytest.approx(1.0)


def test_term_frequencies_list_only_names_several_children_hold() -> None:
    tf = term_frequencies(["oliver"] * 6 + ["saoirse"] + ["amelia"] * 5 + [""] * 0, min_count=5)
    assert tf.values == {"oliver": 6 / 12, "amelia": 5 / 12}
    assert tf.share("saoirse") == tf.minimum == 5 / 12


def test_a_model_trained_on_unlabelled_records_is_a_valid_model_file() -> None:
    from services.router.linking import RollIndex

    data = generate(seed=11, children=3000, records=600, mix=TUNING)
    index = RollIndex()
    for record in data.roll_records():
        index.add(record)
    children = [child for _, child in data.children()]
    model = train(index.records, children, index.blocked, Random(0), Thresholds(18, 8), 20_000)
    assert [s["rule"] for s in model.trained["sessions"]] == list(SESSIONS)
    # Agreement is likelier for the same child than for two children; disagreement less.
    for f, agree in (("date_of_birth", "exact"), ("postcode", "unit"), ("given_name", "exact")):
        assert model.weight(f, agree) > 4
        assert model.weight(f, "disagree") < 0
    assert model_from_dict(model_to_dict(model)).m_u == model.m_u


def test_train_and_evaluate_from_files_report_bad_rows_with_their_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from relay.cli import app
    from relay.corruption import write_set

    roll, records, labels = write_set(
        tmp_path, generate(seed=3, children=600, records=150, mix=TUNING)
    )
    bad_line = len(roll.read_text(encoding="utf-8").splitlines()) + 1
    with roll.open("a", encoding="utf-8") as handle:
        handle.write("140001,BAD1,,Nobody,2015-01-01,female,,\n")  # no given name
    model = tmp_path / "model.json"
    runner = CliRunner()
    trained = runner.invoke(
        app,
        ["matching", "train", "--roll", str(roll), "--records", str(records), "--out", str(model),
         "--labels", str(labels), "--random-pairs", "5000"],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert f"line {bad_line}" in trained.output and "given_name" in trained.output
    evaluated = runner.invoke(
        app,
        ["matching", "evaluate", "--roll", str(roll), "--records", str(records),
         "--labels", str(labels), "--model", str(model), "--json"],
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    figures = json.loads(evaluated.stdout[evaluated.stdout.index("{") :])
    assert figures["records"] == 150
    assert figures["precision"] >= 0.99


def test_misses_and_the_baseline_report_counts_only(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from relay.cli import app
    from relay.corruption import HELD_OUT, write_set

    data = generate(seed=3, children=600, records=150, mix=HELD_OUT)
    roll, records, labels = write_set(tmp_path, data)
    runner = CliRunner()
    model = Path(__file__).resolve().parents[2] / "deploy" / "matching-model.json"
    files = ["--roll", str(roll), "--records", str(records), "--labels", str(labels)]
    missed = runner.invoke(app, ["matching", "misses", *files, "--model", str(model)])
    assert missed.exit_code == 0, missed.output
    lines = missed.stdout.splitlines()
    first = lines[0]
    assert first.endswith("children on the roll not matched automatically")
    split = next(i for i, line in enumerate(lines) if "records sent to review" in line)
    assert sum(int(line.split()[0]) for line in lines[1:split]) <= int(first.split()[0])
    reviewed = lines[split + 1 :]
    assert sum(int(line.split()[0]) for line in reviewed) <= int(lines[split].split()[0])
    assert all("child on" in line for line in reviewed)
    tune = ["--tune-roll", str(roll), "--tune-records", str(records), "--tune-labels", str(labels)]
    plain = runner.invoke(app, ["matching", "baseline", *files, *tune, "--json"])
    assert plain.exit_code == 0, plain.output
    figures = json.loads(plain.stdout[plain.stdout.index("{") :])
    assert figures["records"] == 150 and figures["precision"] >= 0.999
    # No child's name in either report.
    names = {row["family_name"] for row in data.records} | {r["given_name"] for r in data.records}
    for output in (missed.stdout, plain.stdout):
        assert not any(name in output for name in names if len(name) > 3)


def test_train_keeps_the_rules_of_the_file_it_replaces_and_evaluate_overrides_them(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from relay.cli import app
    from relay.corruption import write_set

    roll, records, labels = write_set(
        tmp_path, generate(seed=3, children=600, records=150, mix=TUNING)
    )
    model = tmp_path / "model.json"
    runner = CliRunner()
    files = ["--roll", str(roll), "--records", str(records)]
    train_args = ["matching", "train", *files, "--out", str(model), "--random-pairs", "5000"]

    def rule(output: str) -> str:
        return str(json.loads(output[output.index("{") :])["other_given_name_at_home"])

    fresh = runner.invoke(app, [*train_args, "--json"])
    assert fresh.exit_code == 0, fresh.output
    assert rule(fresh.stdout) == "review"
    data = json.loads(model.read_text(encoding="utf-8"))
    assert data["rules"] == {
        "other_given_name_at_home": "review",
        "birth_date_wrong_at_home": "review",
    }
    data["rules"]["other_given_name_at_home"] = "match"  # the owner's choices
    data["rules"]["birth_date_wrong_at_home"] = "match"
    model.write_text(json.dumps(data), encoding="utf-8")
    again = runner.invoke(app, [*train_args, "--json"])
    assert again.exit_code == 0, again.output
    assert rule(again.stdout) == "match"
    assert json.loads(model.read_text(encoding="utf-8"))["rules"]["other_given_name_at_home"] == (
        "match"
    )
    evaluate = ["matching", "evaluate", *files, "--labels", str(labels), "--model", str(model)]
    as_filed = runner.invoke(app, [*evaluate, "--json"])
    assert as_filed.exit_code == 0, as_filed.output
    assert rule(as_filed.stdout) == "match"
    overridden = runner.invoke(app, [*evaluate, "--other-given-name", "review", "--json"])
    assert overridden.exit_code == 0, overridden.output
    assert rule(overridden.stdout) == "review"
    # The override is of that rule alone: the file's other rule holds.
    shown = json.loads(overridden.stdout[overridden.stdout.index("{") :])
    assert shown["birth_date_wrong_at_home"] == "match"
    assert json.loads(model.read_text(encoding="utf-8"))["rules"]["other_given_name_at_home"] == (
        "match"
    )  # a run's override leaves the file alone
    wrong = runner.invoke(app, [*evaluate, "--other-given-name", "always"])
    assert wrong.exit_code == 2
    assert "--other-given-name" in wrong.output
    misses = ["matching", "misses", *files, "--labels", str(labels), "--model", str(model)]
    listed = runner.invoke(app, [*misses, "--other-given-name", "review"])
    assert listed.exit_code == 0, listed.output
    assert runner.invoke(app, [*misses, "--other-given-name", "always"]).exit_code == 2
