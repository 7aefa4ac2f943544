"""``relay bench matching`` end to end: generate, import through the real import path,
look up through the real matcher, write the figures (on PostgreSQL when
RELAY_TEST_DATABASE_URL is set, else SQLite). Targets are not asserted here: the figures
must be present and sane."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from relay.bench_cli import register


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None: ...

    register(app)
    return app


def test_bench_matching_writes_sane_figures(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = os.environ.get("RELAY_TEST_DATABASE_URL")
    if server:
        monkeypatch.setenv("RELAY_DATABASE_URL", server)
    else:
        monkeypatch.delenv("RELAY_DATABASE_URL", raising=False)
    out = tmp_path / "out.json"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "matching",
            "--roll-size",
            "20000",
            "--records",
            "300",
            "--imports",
            "2",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["database"] == ("postgresql" if server else "sqlite")
    assert 19_000 <= figures["roll_rows"] <= 21_000
    assert figures["roll_rows"] == figures["roll_rows_generated"]  # no row refused
    assert figures["import_rows_per_s"] > 0 and figures["import_seconds"] > 0
    runs = figures["import_runs"]  # two imports, each into a fresh database
    assert len(runs) == 2 and all(r["rows_per_s"] > 0 for r in runs)
    assert figures["import_rows_per_s"] == min(r["rows_per_s"] for r in runs)  # slower middle
    assert "import rows/s (median)" in result.output and "2 imports (rows/s)" in result.output
    ms = figures["lookup_ms"]
    assert 0 < ms["p50"] <= ms["p95"] <= ms["p99"] <= ms["max"]
    assert 10 < figures["peak_rss_mb"] < 4096 and figures["database_mb"] > 0
    assert figures["records"] == 300 and figures["true_pairs"] > 400
    # Not the targets (the matcher is being tuned), but a matcher that works at all.
    assert 0.9 <= figures["precision"] <= 1 and 0.5 <= figures["recall"] <= 1
    assert figures["reviews"] >= 0 and isinstance(figures["false_matches"], list)
    assert figures["twins"]["cases"] > 0
    # The area's GP lists hold every child: auto would match there.
    coverage = figures["gp_coverage"]
    assert coverage["school_children"] > 5_000 and coverage["auto"] == "match"
    assert coverage["on_gp_list"] >= 0.98 * coverage["school_children"]
    assert "school children on GP" in result.output and "auto: match" in result.output
    assert (
        sum(figures["twins"][k] for k in ("right", "review", "wrong", "missed"))
        == (figures["twins"]["cases"])
    )
    assert {"clean", "family-typo", "nickname"} <= set(figures["by_corruption"])
    assert set(figures["targets"]) == {
        "precision",
        "recall",
        "twins",
        "import_rows_per_s",
        "lookup_p99_ms",
        "peak_rss_mb",
    }
    for name in figures["targets"]:
        assert ("PASS" if figures["targets"][name]["pass"] else "MISS") in result.output
    host = figures["host_ms"]  # the host's speed around the run (relay/host_speed.py)
    assert host["before"] > 0 and host["after"] > 0 and "host speed" in result.output
    # No personal data in the figures: ids only.
    text = out.read_text(encoding="utf-8")
    assert "given_name" not in text and "date_of_birth" not in text
