"""``relay bench delivery`` (issue 18) on a small area: the notifier's delivery and the
lean reference each send every alert to the sink, stage by stage."""

from __future__ import annotations

from typer.testing import CliRunner

from relay.cli import app
from relay.delivery_bench import STAGES, run_delivery


def test_the_delivery_bench_sends_every_alert_both_ways() -> None:
    figures = run_delivery(children=200, seed=1, rounds=1, server_url=None)
    assert figures["database"] == "sqlite"
    # Every alert due sent (the bench refuses a failure) and its status relayed, once;
    # the rest were stood down or withdrawn by later events of their episode.
    assert 0 < figures["sent"] <= figures["requested"]
    assert figures["published"] == figures["sent"]
    assert figures["batches"] >= 2  # the last claim finds nothing due
    [project] = figures["project_ms_per_alert"]
    [lean] = figures["lean_ms_per_alert"]
    for stage in (*STAGES, "total"):
        assert project[stage] > 0 and lean[stage] > 0, stage
    assert abs(project["total"] - sum(project[s] for s in STAGES)) < 0.01
    # The host's speed around the rounds, for comparing runs of different days.
    assert set(figures["host_ms"]) == {"before", "after"}
    assert all(ms > 0 for ms in figures["host_ms"].values())


def test_the_command_prints_its_table() -> None:
    result = CliRunner().invoke(
        app, ["bench", "delivery", "--children", "200", "--rounds", "1", "--no-lean"]
    )
    assert result.exit_code == 0, result.output
    assert "outcome" in result.output and "lean (sqlite3)" in result.output
    assert "host speed" in result.output
