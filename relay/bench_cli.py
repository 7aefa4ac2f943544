"""``relay bench matching``: import, lookup and quality figures of the router's matching
(relay/bench.py). Always exits 0: targets are reported with PASS/MISS, not asserted."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from relay import (
    analytics_bench,
    console_bench,
    delivery_bench,
    hop_bench,
    host_speed,
    identity_bench,
    returns_bench,
)
from relay.bench import run_matching
from relay.hop_bench import span
from relay.pipeline_bench import run_pipeline
from relay.pipeline_bench import targets as pipeline_targets
from relay.statement_bench import run_statements

_STAGES = {
    "generate": "generating area",
    "import": "importing rolls",
    "lookup": "lookups",
    "prepare": "starting the stack",
    "post": "events posted",
    "deliver": "alerts delivered",
    "floor": "the floor",
}


def _progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _stage_progress(bar: Progress) -> Callable[[str, int, int], None]:
    """A bench's progress callback: one bar per stage, added when the stage starts."""
    tasks: dict[str, TaskID] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(_STAGES.get(stage, stage), total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return progress


def register(app: typer.Typer) -> None:
    bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks (speed, memory, quality).")
    app.add_typer(bench_app, name="bench")
    returns_bench.register(bench_app)  # `relay bench returns` (relay/returns_bench.py)
    identity_bench.register(bench_app)  # `relay bench identity` (relay/identity_bench.py)
    hop_bench.register(bench_app)  # `relay bench hops` (relay/hop_bench.py)
    delivery_bench.register(bench_app)  # `relay bench delivery` (relay/delivery_bench.py)
    console_bench.register(bench_app)  # `relay bench console` (relay/console_bench.py)
    analytics_bench.register(bench_app)  # `relay bench analytics` (relay/analytics_bench.py)

    bench_app.command("pipeline")(pipeline)
    bench_app.command("statements")(statements)
    bench_app.command("matching")(matching)


def pipeline(
    events: Annotated[int, typer.Option(min=1, help="police events to post")] = 2000,
    rate: Annotated[
        float | None,
        typer.Option(min=0.1, help="events per second; unset: as fast as the API answers"),
    ] = None,
    children: Annotated[int, typer.Option(min=100, help="children in the generated area")] = 3000,
    seed: Annotated[int, typer.Option(help="the same seed gives the same data")] = 0,
    copies: Annotated[
        int,
        typer.Option(
            min=1,
            max=8,
            help="processes each of router and notifier runs in its consumer group "
            "(more than one wants RELAY_DATABASE_URL: copies share a database)",
        ),
    ] = 1,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the figures to this file")
    ] = None,
) -> None:
    """Start the whole stack (the embedded broker unless RELAY_KAFKA_BOOTSTRAP; SQLite
    unless RELAY_DATABASE_URL; an SMTP sink here), post EVENTS police events, and
    report throughput, latency from 202 to SMTP acceptance, memory and CPU per
    alert of each service, and the floors: the same messages raw through three Kafka
    hops and the same emails sent raw to the same sink, and the same again with an
    fsync'd SQLite transaction per hop per batch and per email sent."""
    console = Console(stderr=True)
    with _progress_bar(console) as bar:
        progress = _stage_progress(bar)
        figures = run_pipeline(events, rate, children, seed, progress, copies=copies)
    figures["targets"] = pipeline_targets(figures)
    if json_out is not None:
        json_out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    Console().print(_pipeline_table(figures))


def statements(
    statements: Annotated[
        int, typer.Option(min=1, help="INSERTs in the one long transaction")
    ] = 2000,
    transactions: Annotated[int, typer.Option(min=1, help="transactions of one INSERT each")] = 500,
    rounds: Annotated[int, typer.Option(min=1, help="rounds, for a range")] = 3,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the figures to this file")
    ] = None,
) -> None:
    """CPU per SQLite statement and per transaction: the services' Database (SQLite
    on the loop's thread, and on aiosqlite's thread as before issue 18) against a
    synchronous SQLAlchemy Session and the standard library's sqlite3, same rows,
    same transaction boundaries."""
    figures = run_statements(statements, transactions, rounds)
    if json_out is not None:
        json_out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    table = Table(
        title=f"relay bench statements (SQLite {figures['sqlite']}, µs CPU, "
        f"{rounds} rounds: least to most)"
    )
    table.add_column("path")
    table.add_column(f"per INSERT (of {statements:,} in a transaction)", justify="right")
    table.add_column("per transaction of one INSERT", justify="right")
    for mode, f in figures["modes"].items():
        table.add_row(mode, span(f["statement_us"], 1), span(f["transaction_us"], 1))
    Console().print(table)


def matching(
    roll_size: Annotated[
        int, typer.Option(min=100, help="school + GP roll rows to generate and import")
    ] = 1_000_000,
    records: Annotated[int, typer.Option(min=1, help="police records to look up")] = 2000,
    seed: Annotated[int, typer.Option(help="the same seed gives the same data")] = 0,
    imports: Annotated[
        int,
        typer.Option(
            min=1,
            help="imports, each into a fresh database; the median speed is the figure",
        ),
    ] = 3,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the figures to this file")
    ] = None,
) -> None:
    """Generate an area whose rolls total ROLL_SIZE rows, import it into a fresh
    router database (RELAY_DATABASE_URL's PostgreSQL server, else SQLite) IMPORTS
    times, look up RECORDS corrupted police records, and report speed, memory and
    match quality."""
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        progress = _stage_progress(bar)
        figures = run_matching(roll_size, records, seed=seed, progress=progress, imports=imports)
    if json_out is not None:
        json_out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    Console().print(_table(figures))
    if figures["false_matches"]:
        ids = ", ".join(
            f"{f['record_id']}->{f['org_code']}/{f['roll_record_id']}"
            for f in figures["false_matches"][:20]
        )
        Console().print(f"false matches (ids only): {ids}")


def _pipeline_table(f: dict[str, Any]) -> Table:
    rate = "as fast as possible" if f["rate"] is None else f"{f['rate']:g} events/s"
    copies = f", {f['copies']} copies of router and notifier" if f["copies"] > 1 else ""
    table = Table(
        title=f"relay bench pipeline ({f['database']}, {f['broker']} broker, "
        f"{f['events']:,} events {rate}{copies}, {f['smtp_connections']} SMTP connections)"
    )
    table.add_column("figure", no_wrap=True)  # names the tests look for
    table.add_column("value", justify="right")
    table.add_column("target")
    t = f["targets"]

    def mark(name: str) -> str:
        return ("PASS " if t[name]["pass"] else "MISS ") + t[name]["text"] if name in t else ""

    ms = f["latency_ms"]
    rows = [
        ("events accepted / s", f"{f['events_per_s']:,}", ""),
        ("alerts delivered / s", f"{f['alerts_per_s']:,} ({f['alerts']:,} alerts)", ""),
        ("latency p50 / p95 (ms)", f"{ms['p50']:,} / {ms['p95']:,}", ""),
        ("latency p99 / max (ms)", f"{ms['p99']:,} / {ms['max']:,}", mark("latency_p99_ms")),
        ("pipeline (s)", f"{f['pipeline_s']}", ""),
        (
            "floor (s): Kafka 3 hops / SMTP",
            f"{f['floor_s']} ({f['floor_kafka_s']} / {f['floor_smtp_s']})",
            "",
        ),
        ("pipeline / floor", f"{f['ratio']}", mark("ratio")),
        (
            "durable floor (s): Kafka / SMTP",
            f"{f['durable_floor_s']} ({f['durable_floor_kafka_s']} / {f['durable_floor_smtp_s']})",
            "",
        ),
        ("pipeline / durable floor", f"{f['ratio_durable']}", mark("ratio_durable")),
        (
            "CPU ms / alert",
            ", ".join(f"{s} {ms:,.2f}" for s, ms in f["cpu_ms_per_alert"].items()),
            mark("cpu_ms_per_alert"),
        ),
        (
            "peak RSS (MB)",
            ", ".join(f"{s} {mb:,.0f}" for s, mb in f["peak_rss_mb"].items()),
            mark("peak_rss_mb"),
        ),
        ("alerts sent twice", f"{f['duplicates']}", mark("duplicates")),
        (
            "host speed (ms, before / after)",
            f"{f['host_ms']['before']} / {f['host_ms']['after']}",
            host_speed.MEANING,
        ),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def _gp_row(figure: dict[str, Any]) -> tuple[str, str, str]:
    from services.router.gp_coverage import GpCoverage

    coverage = GpCoverage(figure["school_children"], figure["on_gp_list"])
    # The rule other_given_name_at_home: auto by it (services/router/gp_coverage.py).
    return (
        "school children on GP lists",
        f"{coverage.percent()} of {coverage.school_children:,}",
        f"auto: {figure['auto']}",
    )


def _table(f: dict[str, Any]) -> Table:
    table = Table(
        title=f"relay bench matching ({f['database']}, {f['roll_rows']:,} roll rows)",
        caption=host_speed.caption(f["host_ms"]),
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target")
    t = f["targets"]

    def mark(name: str) -> str:
        return ("PASS " if t[name]["pass"] else "MISS ") + t[name]["text"]

    ms = f["lookup_ms"]
    twins = f["twins"]
    runs = f["import_runs"]
    rows = [
        (
            "import rows/s" if len(runs) == 1 else "import rows/s (median)",
            f"{f['import_rows_per_s']:,} ({f['import_seconds']} s)",
            mark("import_rows_per_s"),
        ),
        *(
            [
                (
                    f"  {len(runs)} imports (rows/s)",
                    " / ".join(f"{r['rows_per_s']:,}" for r in runs),
                    "",
                )
            ]
            if len(runs) > 1
            else []
        ),
        ("lookup p50 / p95 (ms)", f"{ms['p50']} / {ms['p95']}", ""),
        ("lookup p99 / max (ms)", f"{ms['p99']} / {ms['max']}", mark("lookup_p99_ms")),
        ("peak RSS (MB)", f"{f['peak_rss_mb']:,}", mark("peak_rss_mb")),
        ("database size (MB)", f"{f['database_mb']:,}", ""),
        *([_gp_row(f["gp_coverage"])] if f.get("gp_coverage") else []),
        ("police records", f"{f['records']:,} ({f['true_pairs']:,} true pairs)", ""),
        ("precision of match", f"{f['precision']:.4%} of {f['matches']:,}", mark("precision")),
        ("recall of match", f"{f['recall']:.2%}", mark("recall")),
        ("reviews", f"{f['reviews']:,}", ""),
        ("false matches", f"{len(f['false_matches'])}", ""),
        (
            "twin cases",
            f"{twins['cases']}: {twins['right']} right, {twins['review']} review, "
            f"{twins['wrong']} wrong, {twins['missed']} missed",
            mark("twins"),
        ),
    ]
    for row in rows:
        table.add_row(*row)
    for kind, c in f["by_corruption"].items():
        recall = "-" if c["recall"] is None else f"{c['recall']:.1%}"
        table.add_row(
            f"  recall: {kind}",
            f"{recall} of {c['pairs']}",
            f"{c['reviewed']} reviewed, {c['false_matches']} false",
        )
    return table
