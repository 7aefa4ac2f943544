"""``relay bench pipeline`` end to end at a small size: the real stack (services as
processes, the embedded broker, SQLite or PostgreSQL when RELAY_TEST_DATABASE_URL is
set), an SMTP sink, the floor. Targets are not asserted (a shared machine's speed is not
a test): the figures must be there and consistent, and no alert may go twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.notifier.smtp import DEFAULT_POOL
from tests.conftest import EMBEDDED_GROUP_ENV

pytestmark = pytest.mark.e2e

ARGS = ("--events", "30", "--children", "200", "--rate", "20")
KEYS = {
    "events_per_s",
    "alerts_per_s",
    "latency_ms",
    "pipeline_s",
    "floor_s",
    "ratio",
    "durable_floor_s",
    "ratio_durable",
    "cpu_ms_per_alert",
    "host_ms",
    "smtp_connections",
}
SERVICES = {"ingest", "router", "notifier", "console"}


def test_bench_pipeline_reports_every_figure_for_a_small_feed(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env.update(EMBEDDED_GROUP_ENV)
    if server := os.environ.get("RELAY_TEST_DATABASE_URL"):
        env["RELAY_DATABASE_URL"] = server
    out = tmp_path / "pipeline.json"
    done = subprocess.run(
        [sys.executable, "-m", "relay", "bench", "pipeline", *ARGS, "--json", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())
    assert figures.keys() >= KEYS
    assert set(figures["latency_ms"]) == {"p50", "p95", "p99", "max"}
    assert set(figures["peak_rss_mb"]) == SERVICES
    assert all(mb > 20 for mb in figures["peak_rss_mb"].values())
    # Every event is a child on a school roll: the school and the authority at least.
    assert figures["alerts"] >= 2 * figures["events"] == 60
    assert figures["duplicates"] == 0
    ms = figures["latency_ms"]
    assert 0 < ms["p50"] <= ms["p95"] <= ms["p99"] <= ms["max"] < 120_000
    assert figures["floor_s"] == max(figures["floor_kafka_s"], figures["floor_smtp_s"]) > 0
    assert figures["ratio"] == pytest.approx(figures["pipeline_s"] / figures["floor_s"], 0.01)
    # The durable floor does what the raw one does, and more.
    assert figures["durable_floor_s"] == max(
        figures["durable_floor_kafka_s"], figures["durable_floor_smtp_s"]
    )
    assert figures["durable_floor_kafka_s"] > 0 and figures["durable_floor_smtp_s"] > 0
    assert figures["ratio_durable"] == pytest.approx(
        figures["pipeline_s"] / figures["durable_floor_s"], 0.01
    )
    # The SMTP floors use as many connections as the notifier keeps (its default pool).
    assert figures["smtp_connections"] == DEFAULT_POOL == 4
    # Every service worked for its alerts; the total is their sum.
    cpu = figures["cpu_ms_per_alert"]
    assert set(cpu) == SERVICES | {"total"}
    assert all(0 < cpu[s] < 1000 for s in SERVICES)
    assert cpu["total"] == pytest.approx(sum(cpu[s] for s in SERVICES), abs=0.05)
    # The host's speed, taken around the run, for comparing runs of different days.
    assert set(figures["host_ms"]) == {"before", "after"}
    assert all(0 < ms < 10_000 for ms in figures["host_ms"].values())
    assert "host speed" in done.stdout
    assert "relay bench pipeline" in done.stdout and "pipeline / floor" in done.stdout
    assert "pipeline / durable floor" in done.stdout and "CPU ms / alert" in done.stdout
    assert figures["targets"]["latency_p99_ms"]["text"].startswith("p99 from 202")
