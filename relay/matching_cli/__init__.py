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

import typer

from relay.matching_cli.quality import baseline, evaluate, misses
from relay.matching_cli.sets import febrl, generate
from relay.matching_cli.training import train


def register(app: typer.Typer) -> None:
    matching = typer.Typer(no_args_is_help=True, help="Train and evaluate the matching model.")
    app.add_typer(matching, name="matching")

    matching.command("train")(train)
    matching.command("evaluate")(evaluate)
    matching.command("generate")(generate)
    matching.command("baseline")(baseline)
    matching.command("misses")(misses)
    matching.command("febrl")(febrl)


__all__ = ["register"]
