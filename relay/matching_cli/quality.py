"""``relay matching evaluate``, ``misses`` and ``baseline``: how a model (or the plain
baseline) links a labelled set, and why children on the roll were not matched."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from relay.matching_cli.common import (
    LabelsOpt,
    ModelOpt,
    OnOpt,
    OtherGivenOpt,
    RecordsOpt,
    RollOpt,
    chosen_model,
    compared_records,
    day,
    for_roll,
    load,
    read_labels,
    show,
)


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

    index, children = load(roll, records)
    model = for_roll(chosen_model(model_file, other_given_name), index)
    compared = compared_records(index, children, day(on), model)
    result = score((outcome(rid, c, model) for rid, c in compared), read_labels(labels))
    show(
        {
            **result.as_dict(),
            "match_threshold": model.thresholds.match,
            "review_threshold": model.thresholds.review,
            "other_given_name_at_home": model.rules.other_given_name_at_home,
            "birth_date_wrong_at_home": model.rules.birth_date_wrong_at_home,
        },
        as_json,
    )


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
        index, children = load(roll_file, records_file)
        found = {rid: index.candidates(child) for rid, child in children}
        return plain.score_all(children, found)

    match, review = plain.choose(scored(tune_roll, tune_records), read_labels(tune_labels))
    result = score(
        plain.decide(scored(roll, records), match, review, plain.GAP), read_labels(labels)
    )
    show({**result.as_dict(), "match_threshold": match, "review_threshold": review}, as_json)


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

    index, children = load(roll, records)
    model = for_roll(chosen_model(model_file, other_given_name), index)
    known = read_labels(labels)
    with labels.open(encoding="utf-8-sig", newline="") as handle:
        mods = {row["record_id"]: row.get("modifications") or "" for row in csv.DictReader(handle)}
    causes: Counter[str] = Counter()
    kinds: dict[str, Counter[str]] = {}
    reviews: Counter[str] = Counter()
    review_kinds: dict[str, Counter[str]] = {}
    for rid, by_org in compared_records(index, children, day(on), model):
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
