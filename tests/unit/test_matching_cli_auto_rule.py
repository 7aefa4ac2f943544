"""``relay matching evaluate``, ``misses``, ``train`` and ``relay link`` resolve the
rule ``other_given_name_at_home: auto`` by the roll file's GP coverage, as the router
would with that roll imported, and say so on stderr: on held-out sets whose GP lists
hold all the children it acts as ``match``, at 97 % as ``review``."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from relay.cli import app
from relay.corruption import HELD_OUT, TUNING, generate, write_set

MODEL = Path(__file__).resolve().parents[2] / "deploy" / "matching-model.json"
AUTO = "other_given_name_at_home=auto: "


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[float, list[Path]]:
    """Held-out seed 2, 3,000 children, 600 records, GP lists at 100 % and 97 %."""
    folder = tmp_path_factory.mktemp("sets")
    return {
        coverage: write_set(folder / str(coverage), generate(2, 3_000, 600, HELD_OUT, coverage))
        for coverage in (1.0, 0.97)
    }


def _files(paths: list[Path]) -> list[str]:
    return [f"--{n}={p}" for n, p in zip(("roll", "records", "labels"), paths, strict=True)]


def _evaluate(paths: list[Path], rule: str) -> tuple[dict[str, Any], list[str]]:
    args = ["matching", "evaluate", *_files(paths), "--model", str(MODEL), "--json"]
    result = CliRunner().invoke(app, [*args, "--other-given-name", rule])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout[result.stdout.index("{") :])
    return figures, [line for line in result.stderr.splitlines() if line.startswith(AUTO)]


@pytest.mark.parametrize(
    ("coverage", "said", "acts_as", "other"),
    [
        (1.0, "GP lists hold 100.0 % of 2,702 school children: match", "match", "review"),
        (
            0.97,
            "GP lists hold 97.1 % of 2,702 school children, fewer than 99 %: review",
            "review",
            "match",
        ),
    ],
)
def test_evaluate_resolves_auto_by_the_roll_files_gp_lists(
    sets: dict[float, list[Path]], coverage: float, said: str, acts_as: str, other: str
) -> None:
    figures, lines = _evaluate(sets[coverage], "auto")
    assert lines == [AUTO + said]
    assert figures == _evaluate(sets[coverage], acts_as)[0]
    # The two settings differ on these sets: which one auto took shows.
    assert figures["right_matches"] != _evaluate(sets[coverage], other)[0]["right_matches"]
    assert _evaluate(sets[coverage], acts_as)[1] == []  # said only for auto


def test_misses_says_what_auto_is(sets: dict[float, list[Path]]) -> None:
    args = ["matching", "misses", *_files(sets[0.97]), "--model", str(MODEL)]
    auto = CliRunner().invoke(app, [*args, "--other-given-name", "auto"])
    review = CliRunner().invoke(app, [*args, "--other-given-name", "review"])
    assert auto.exit_code == review.exit_code == 0, auto.output
    assert f"{AUTO}GP lists hold 97.1 % of 2,702 school children" in auto.stderr
    assert auto.stdout == review.stdout


def test_link_resolves_auto_from_the_model_file(
    sets: dict[float, list[Path]], tmp_path: Path
) -> None:
    data = json.loads(MODEL.read_text(encoding="utf-8"))
    decisions: dict[str, Counter[str]] = {}
    for rule in ("auto", "match"):
        model = tmp_path / f"{rule}.json"
        model.write_text(json.dumps({**data, "rules": {"other_given_name_at_home": rule}}))
        out = tmp_path / f"{rule}.csv"
        roll, records, _labels = sets[1.0]
        args = ["link", "--roll", str(roll), "--records", str(records), "--out", str(out)]
        result = CliRunner().invoke(app, [*args, "--on", "2026-03-10", "--model", str(model)])
        assert result.exit_code == 0, result.output
        lines = [line for line in result.stderr.splitlines() if line.startswith(AUTO)]
        assert lines == (
            [f"{AUTO}GP lists hold 100.0 % of 2,702 school children: match"]
            if rule == "auto"
            else []
        )
        with out.open(encoding="utf-8") as handle:
            decisions[rule] = Counter(row["decision"] for row in csv.DictReader(handle))
    assert decisions["auto"] == decisions["match"]


def test_train_chooses_thresholds_under_the_resolved_rule_and_keeps_auto(tmp_path: Path) -> None:
    roll, records, labels = write_set(tmp_path, generate(3, 600, 150, TUNING, 1.0))
    model = tmp_path / "model.json"
    data = json.loads(MODEL.read_text(encoding="utf-8"))
    model.write_text(json.dumps({**data, "rules": {"other_given_name_at_home": "auto"}}))
    args = ["matching", "train", "--roll", str(roll), "--records", str(records)]
    args += ["--labels", str(labels), "--out", str(model), "--random-pairs", "5000"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    # 600 children: too few to judge, however completely the GP lists hold them.
    assert (
        f"{AUTO}GP lists hold 100.0 % of 543 school children, too few to judge "
        "(fewer than 1,000): review"
    ) in result.stderr
    written = json.loads(model.read_text(encoding="utf-8"))
    assert written["rules"] == {
        "other_given_name_at_home": "auto",
        "birth_date_wrong_at_home": "review",
    }


def test_the_options_help_gives_the_share_auto_matches_from() -> None:
    from services.router.gp_coverage import AUTO_MIN_CHILDREN, AUTO_MIN_SHARE

    result = CliRunner().invoke(app, ["matching", "evaluate", "--help"], env={"COLUMNS": "200"})
    text = " ".join(result.stdout.replace("│", " ").split())
    assert f"GP lists hold at least {AUTO_MIN_SHARE * 100:.0f} %" in text
    assert f"of its {AUTO_MIN_CHILDREN:,} or more school children" in text
