"""What the ``relay matching`` commands share: their options, the files read with their
problems on stderr, the model with the roll file's name frequencies and rule, and the
figures printed."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any, get_args

import typer

ON = date(2026, 3, 10)

RollOpt = Annotated[Path, typer.Option("--roll", exists=True, dir_okay=False, help="roll CSV")]
RecordsOpt = Annotated[
    Path, typer.Option("--records", exists=True, dir_okay=False, help="police records CSV")
]
LabelsOpt = Annotated[Path, typer.Option(exists=True, dir_okay=False, help="labels CSV")]
ModelOpt = Annotated[
    Path | None, typer.Option("--model", help="default: RELAY_MATCHING_MODEL_FILE")
]
OnOpt = Annotated[
    str | None, typer.Option("--on", help="on-roll date, YYYY-MM-DD (default 2026-03-10)")
]
OtherGivenOpt = Annotated[
    str | None,
    typer.Option(
        "--other-given-name",
        help="review | match | auto: the rule rules.other_given_name_at_home for this run "
        "(default: the model file's; auto: match when the roll's GP lists hold at least 99 %"
        " of its 1,000 or more school children)",
    ),
]


def read_labels(path: Path) -> dict[str, Any]:
    from services.router.evaluation import Label

    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"record_id", "roll_record_id"} - set(reader.fieldnames or ())
        if missing:
            raise typer.BadParameter(
                f"{path}: missing column(s) {', '.join(sorted(missing))}", param_hint="--labels"
            )
        return {
            row["record_id"]: Label(
                row["record_id"], row["roll_record_id"].strip() or None, row.get("group") or ""
            )
            for row in reader
        }


def load(roll: Path, records: Path) -> tuple[Any, list[tuple[str, Any]]]:
    """The roll index and the valid records; problems go to stderr with their lines."""
    from services.router.directory import RowIssue
    from services.router.linking import load_roll, read_records

    index, issues = load_roll(roll)
    problems(roll, issues)
    children: list[tuple[str, Any]] = []
    refused: list[RowIssue] = []
    for item in read_records(records):
        if isinstance(item, RowIssue):
            refused.append(item)
        else:
            children.append(item)
    problems(records, refused)
    return index, children


def problems(path: Path, issues: Sequence[Any]) -> None:
    """The first problems of a file with their lines on stderr, then how many more and
    in which columns (FEBRL's dataset4 has 578 records the router would refuse)."""
    from services.router.cli import ISSUES_SHOWN

    for issue in issues[:ISSUES_SHOWN]:
        typer.echo(f"{path}: {issue}", err=True)
    if len(issues) > ISSUES_SHOWN:
        by_column = Counter(i.column for i in issues[ISSUES_SHOWN:])
        columns = ", ".join(f"{column} {n}" for column, n in by_column.most_common())
        typer.echo(
            f"{path}: ... and {len(issues) - ISSUES_SHOWN} more problem(s) ({columns})", err=True
        )


def for_roll(model: Any, index: Any) -> Any:
    """``model`` with the name frequencies of the roll file, as the router would weigh
    names with that roll imported (services/router/name_frequencies.py), and its rule
    ``other_given_name_at_home: auto`` resolved by the file's GP coverage
    (services/router/gp_coverage.py); says which on stderr (counts only)."""
    from services.router import gp_coverage
    from services.router.name_frequencies import for_matching, of_roll

    chosen = for_matching(model, of_roll(index.records))
    typer.echo(f"name frequencies from the {chosen.describe()}", err=True)
    resolved, resolution = gp_coverage.for_matching(
        chosen.model, gp_coverage.of_records(index.records)
    )
    if resolution.configured == "auto":
        typer.echo(f"other_given_name_at_home=auto: {resolution.describe()}", err=True)
    return resolved


def chosen_model(model_file: Path | None, other_given_name: str | None) -> Any:
    """The model file (``--model``, else ``RELAY_MATCHING_MODEL_FILE``) with
    ``--other-given-name`` in place of its rule; a file that does not load ends the
    command, naming the problem."""
    from services.router.model import ModelFileError, read_model
    from services.router.settings import RouterSettings

    try:
        model = read_model(model_file or RouterSettings().matching_model_file)
    except ModelFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    return with_rule(model, other_given_name)


def with_rule(model: Any, other_given_name: str | None) -> Any:
    """``model`` with ``--other-given-name`` in place of its file's rule, if given."""
    from dataclasses import replace

    from services.router.model import OtherGivenNameAtHome

    if other_given_name is None:
        return model
    allowed = get_args(OtherGivenNameAtHome)
    for choice in allowed:
        if other_given_name == choice:
            return replace(model, rules=replace(model.rules, other_given_name_at_home=choice))
    raise typer.BadParameter(f"one of {', '.join(allowed)}", param_hint="--other-given-name")


def kept_rules(target: Path) -> Any:
    """The rules of the model file ``train`` replaces (the owner chose them), else the
    defaults; says which on stderr."""
    from services.router.model import ModelFileError, Rules, read_model

    try:
        rules = read_model(target).rules
    except ModelFileError:
        typer.echo(f"rules: the defaults ({target} is missing or does not load)", err=True)
        return Rules()
    typer.echo(f"rules: kept from {target}", err=True)
    return rules


def day(on: str | None) -> date:
    return date.fromisoformat(on) if on else ON


def compared_records(
    index: Any, children: list[tuple[str, Any]], day: date, model: Any
) -> list[Any]:
    from services.router.matching import compare_candidates

    return [
        (rid, compare_candidates(child, index.candidates(child), day, model))
        for rid, child in children
    ]


def show(figures: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        typer.echo(f"{key:>16}: {value}")
