"""``relay demo-data``: write a synthetic area (organisations, rolls, a police feed)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from relay.demo_data import generate, write_area


def register(app: typer.Typer) -> None:
    @app.command("demo-data")
    def demo_data(
        out: Annotated[Path, typer.Option(help="folder for the files (created if missing)")],
        children: Annotated[int, typer.Option(min=1, help="children in the area")] = 3000,
        seed: Annotated[int, typer.Option(help="the same seed gives the same area")] = 0,
        now: Annotated[
            datetime | None,
            typer.Option(
                formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"],
                help="end of the police feed, with offset (default: now)",
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """Write organisations.csv, roll_schools.csv, roll_gps.csv, roll_yot.csv,
        feed.ndjson and truth.csv for a synthetic Northumberland. Every person is made up."""
        area = generate(children, seed=seed, now=now)
        counts = write_area(area, out)
        summary = {
            "out": str(out),
            "files": counts,
            "children": len(area.children),
            "missing_children": len({t.child_id for t in area.truth}),
            "invalid_events": len(area.invalid_event_ids),
        }
        if as_json:
            typer.echo(json.dumps(summary))
            return
        for name, rows in counts.items():
            typer.echo(f"{out / name}: {rows} rows")
        typer.echo(
            f"{summary['children']} children, {summary['missing_children']} in the police feed, "
            f"{summary['invalid_events']} deliberately invalid events"
        )
        typer.echo(
            f"next: relay directory import organisations {out / 'organisations.csv'}; "
            f"relay directory import roll {out / 'roll_schools.csv'} (and the GP and YOT rolls); "
            f"relay ingest {out / 'feed.ndjson'}"
        )
