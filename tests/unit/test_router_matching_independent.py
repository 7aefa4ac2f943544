"""The deployed matching model on records it was not tuned on (issue 22).

``deploy/matching-model.json`` was trained on the independent generator's tuning set
(relay/corruption/, mix ``tuning``, seed 1) and its thresholds chosen there; here it
meets a set of the ``held-out`` mix (another seed, more records with 3-5 modifications,
more sound-alike, scanning and whole-name errors), and the project's own generated
sets (nicknames, swapped names, twins: tests/unit/test_router_matching_quality.py).

The issue's targets for the held-out mix (recall 0.93, review share 8%) are not reached
(README, matching): about 9% of its records of children on the roll carry a given name
replaced by another common name, which at the same home, birth date and sex is what an
off-roll twin's record looks like; matching them automatically would meet both targets
and match 15 twins wrongly. What is asserted is what the model holds to: precision, no
wrong twin or sibling, and recall and review share no worse than measured (with a
margin).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from relay.corruption import HELD_OUT, generate
from services.router.evaluation import Label, evaluate, outcome
from services.router.linking import RollIndex
from services.router.matching import compare_candidates
from services.router.model import read_model
from services.router.name_frequencies import for_matching, of_roll
from tests.unit.test_router_matching_quality import measure

DEPLOYED = Path(__file__).resolve().parents[2] / "deploy" / "matching-model.json"
ON = date(2026, 3, 10)


def test_the_deployed_model_on_a_held_out_corruption_model() -> None:
    model = read_model(DEPLOYED)
    data = generate(seed=5, children=6000, records=1500, mix=HELD_OUT)
    index = RollIndex()
    for record in data.roll_records():
        index.add(record)
    model = for_matching(model, of_roll(index.records)).model  # as the router weighs names
    labels = {
        row["record_id"]: Label(row["record_id"], row["roll_record_id"] or None, row["group"])
        for row in data.labels
    }
    outcomes = []
    for record_id, child in data.children():
        compared = compare_candidates(child, index.candidates(child), ON, model)
        outcomes.append(outcome(record_id, compared, model))
    e = evaluate(outcomes, labels)
    assert e.records == 1500
    assert e.precision >= 0.999, e.as_dict()
    assert e.twin_wrong == e.sibling_wrong == 0, e.as_dict()
    # Measured 0.871 and 12.1% (0.856 and 11.5% before the address and initials keys
    # found children no other key did; 0.853 and 11.8% before a name mangled past a slip
    # was read as the roll's; README: 0.872 and 12.8% on the larger set; before the rules
    # and weights of issue 22 0.816 and 14.9%); the issue asks 0.93 and 8%.
    assert e.recall >= 0.86, e.as_dict()
    assert e.review_share <= 0.13, e.as_dict()


def test_the_deployed_model_on_the_projects_own_sets() -> None:
    """Nicknames, swapped names, double-barrelled names, twins: the project's own
    corruption model still passes its targets with the trained model."""
    q = measure(model=read_model(DEPLOYED))
    assert q.twin_errors == 0
    assert q.precision >= 0.999, q.wrong
    assert q.recall >= 0.95, (q.recall, q.decisions)
