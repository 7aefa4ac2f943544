"""``relay bench``'s arithmetic: percentiles, and precision/recall/twins against truth."""

from __future__ import annotations

from relay.bench import targets
from relay.bench_scoring import Outcome, percentile, score
from relay.demo_data import TruthRow


def _truth(event: str, school: str, gp: str, twin: bool = False, kinds=()) -> TruthRow:
    return TruthRow(
        event,
        "C1",
        "100001" if school else "",
        "A00001" if gp else "",
        "",
        "E06000057",
        True,
        school,
        gp,
        "",
        tuple(kinds),
        twin,
    )


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50 and percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100 and percentile([3.0], 0.99) == 3


def test_precision_recall_reviews_and_twins() -> None:
    truth = [
        _truth("E1", "S-1", "G-1"),
        _truth("E2", "S-2", "G-2", twin=True, kinds=["nickname"]),
        _truth("E3", "S-3", "", twin=True),
        _truth("E4", "", ""),  # on no roll
    ]
    outcomes = [
        Outcome("E1", "100001", "match", "S-1"),
        Outcome("E1", "A00001", "match", "G-1"),
        Outcome("E2", "100001", "match", "S-9"),  # the twin: a false match
        Outcome("E2", "A00001", "review", "G-2"),
        Outcome("E3", "100001", "review", "S-3"),
        Outcome("E4", "100001", "match", "S-5"),  # someone else entirely
    ]
    figures = score(truth, outcomes)
    assert figures["true_pairs"] == 5 and figures["matches"] == 4
    assert figures["precision"] == 2 / 4 and figures["recall"] == 2 / 5
    assert figures["reviews"] == 2
    assert [(f["record_id"], f["roll_record_id"]) for f in figures["false_matches"]] == [
        ("E2", "S-9"),
        ("E4", "S-5"),
    ]
    assert figures["twins"] == {
        "cases": 2,
        "right": 0,
        "review": 1,
        "wrong": 1,
        "missed": 0,
        "wrong_record_ids": ["E2"],
    }
    assert figures["by_corruption"]["nickname"]["false_matches"] == 1
    assert figures["by_corruption"]["clean"]["recall"] == 2 / 3


def test_targets_pass_and_miss() -> None:
    figures = {
        "precision": 0.9995,
        "recall": 0.96,
        "twins": {"wrong": 0, "missed": 0},
        "import_rows_per_s": 60_000,
        "lookup_ms": {"p99": 25.0},
        "peak_rss_mb": 300.0,
    }
    result = {name: t["pass"] for name, t in targets(figures).items()}
    assert result == {
        "precision": True,
        "recall": False,
        "twins": True,
        "import_rows_per_s": True,
        "lookup_p99_ms": False,
        "peak_rss_mb": True,
    }
