"""``relay bench hops`` (issue 18) on a small area: the router's and the notifier's real
handlers run on fresh databases, and the figures say what went through them."""

from __future__ import annotations

from typer.testing import CliRunner

from relay.cli import app
from relay.hop_bench import run_hops


def test_the_hops_bench_runs_the_feed_through_both_handlers() -> None:
    figures = run_hops(children=300, seed=1, rounds=2, server_url=None)
    assert figures["database"] == "sqlite"
    first, second = figures["rounds"]
    assert first["events"] == figures["events"] > 0
    # Fresh databases each round: the same feed gives the same messages.
    for name in ("router_published", "router_refused", "alerts", "notifier_published"):
        assert first[name] == second[name], name
    assert first["alerts"] > first["events"] - first["router_refused"]  # several per event
    assert first["notifier_published"] >= first["alerts"]  # each alert's status at least
    assert all(ms > 0 for ms in figures["router_ms_per_event"] + figures["notifier_ms_per_alert"])
    assert set(figures["host_ms"]) == {"before", "after"}  # the host's speed around them


def test_the_command_prints_its_table() -> None:
    result = CliRunner().invoke(app, ["bench", "hops", "--children", "200", "--rounds", "1"])
    assert result.exit_code == 0, result.output
    assert "router: episode-events" in result.output and "ms CPU per message" in result.output
    assert "host speed" in result.output
