"""``relay matching train``: a model estimated from a roll and unlabelled police records,
its thresholds chosen on a labelled set if given."""

from __future__ import annotations

from pathlib import Path
from random import Random
from typing import Annotated, Any

import typer

from relay.matching_cli.common import (
    OnOpt,
    RecordsOpt,
    RollOpt,
    compared_records,
    day,
    for_roll,
    kept_rules,
    load,
    read_labels,
    show,
)
from services.router.settings import RouterSettings


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

    index, children = load(roll, records)
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
    model = replace(model, rules=kept_rules(target))
    figures: dict[str, Any] = {"thresholds": "given"}
    if labels is not None:
        live = for_roll(model, index)
        thresholds, tuned = choose_thresholds(
            compared_records(index, children, day(on), live), read_labels(labels), live
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
            "birth_date_wrong_at_home": model.rules.birth_date_wrong_at_home,
        }
    )
    show(figures, as_json)
