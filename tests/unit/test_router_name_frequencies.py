"""The live roll's name frequencies (issue 22; services/router/name_frequencies.py): one
rule for the router and for the commands that read roll files, which tables a model
scores with, and the model kept immutable."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

from services.router.directory import RollRecord
from services.router.model import TF_MIN_COUNT, TermFrequencies, read_model
from services.router.name_frequencies import (
    LIVE_MIN_ROWS,
    RollFrequencies,
    first_given,
    for_matching,
    from_counts,
    of_counts,
    of_roll,
    term_frequencies,
)
from services.router.names import normalise_name
from services.router.weights import BASELINE

DEPLOYED = Path(__file__).resolve().parents[2] / "deploy" / "matching-model.json"
MODEL = read_model(DEPLOYED)


def _record(n: int, given: str, family: str) -> RollRecord:
    return RollRecord(
        org_code="100001",
        record_id=f"R{n}",
        given_name=given,
        family_name=family,
        date_of_birth=date(2014, 2, 3),
        norm_given=normalise_name(given),
        norm_family=normalise_name(family),
    )


def _roll(rows: int, zainab: int) -> list[RollRecord]:
    """``rows`` rows, ``zainab`` of them Zainab Okafor, the rest with names of their own."""
    return [
        _record(n, "Zainab", "Okafor") if n < zainab else _record(n, f"G{n:x}", f"F{n:x}")
        for n in range(rows)
    ]


def _live(rows: int, zainab: int) -> RollFrequencies:
    return of_roll(_roll(rows, zainab))


def test_counts_give_the_same_table_as_the_names_themselves() -> None:
    names = ["oliver"] * 6 + ["saoirse"] + ["amelia"] * 5 + [""] * 7
    counts = Counter(names)
    frequent = {n: c for n, c in counts.items() if c >= 5}  # what a database hands back
    assert from_counts(frequent, len(names), 5) == term_frequencies(names, 5)
    assert term_frequencies(names, 5).values == {"oliver": 6 / 19, "amelia": 5 / 19}


def test_a_given_name_counts_by_its_first_name() -> None:
    assert first_given(normalise_name("Anne-Marie")) == "anne"
    assert first_given("mary jane") == "mary" and first_given("") == ""
    live = of_roll([_record(n, g, "Lee") for n, g in enumerate(["Mary Jane"] * 3 + ["Mary"] * 2)])
    assert live.rows == 5
    assert live.tables["given_name"].values == {"mary": 1.0}
    assert live.tables["family_name"].values == {"lee": 1.0}
    assert live.names() == {"given_name": 1, "family_name": 1}
    assert of_counts(5, TF_MIN_COUNT, {"mary": 5}, {"lee": 5}) == live


def test_a_large_roll_s_own_frequencies_replace_the_model_file_s() -> None:
    live = _live(LIVE_MIN_ROWS, LIVE_MIN_ROWS // 20)  # one child in twenty a Zainab Okafor
    chosen = for_matching(MODEL, live)
    assert chosen.source == "roll" and chosen.model.term_frequencies == live.tables
    assert chosen.names == {"given_name": 1, "family_name": 1}
    # An exact Zainab, average in the model file, weighs less where it is common...
    assert MODEL.weight("given_name", "exact", "zainab") == MODEL.weights["given_name"]["exact"]
    assert chosen.model.weight("given_name", "exact", "zainab") < MODEL.weight(
        "given_name", "exact", "zainab"
    )
    # ... and Olivia, common in the model file, weighs as a rare name on this roll.
    assert chosen.model.weight("given_name", "exact", "olivia") > MODEL.weight(
        "given_name", "exact", "olivia"
    )


def test_a_small_roll_keeps_the_model_file_s_frequencies() -> None:
    chosen = for_matching(MODEL, _live(LIVE_MIN_ROWS - 1, 100))
    assert chosen.source == "model file" and chosen.model is MODEL
    assert str(LIVE_MIN_ROWS) in chosen.why
    assert for_matching(MODEL, None).model is MODEL  # nothing stored yet


def test_tables_kept_by_another_count_than_the_model_s_are_not_used() -> None:
    live = of_roll(_roll(LIVE_MIN_ROWS, 100), min_count=TF_MIN_COUNT + 1)
    assert for_matching(MODEL, live).source == "model file"


def test_a_model_without_tables_stays_without() -> None:
    chosen = for_matching(BASELINE, _live(LIVE_MIN_ROWS, 100))
    assert chosen.source == "none" and chosen.model is BASELINE


def test_the_log_line_gives_counts_and_never_a_name() -> None:
    text = for_matching(MODEL, _live(LIVE_MIN_ROWS, 100)).describe()
    assert text == f"roll (1 given, 1 family names): the roll's {LIVE_MIN_ROWS} rows"
    assert "zainab" not in text.lower()


def test_a_model_with_other_tables_is_a_new_model() -> None:
    tables = {"given_name": TermFrequencies(0.001, {"zainab": 0.05})}
    other = MODEL.with_term_frequencies(tables)
    assert other is not MODEL and other.term_frequencies == tables
    assert MODEL.term_frequencies["given_name"].holds("olivia")  # the loaded one unchanged
    assert other.weights == MODEL.weights and other.thresholds == MODEL.thresholds
    assert not other.known_name("given_name", "olivia")
    assert other.known_name("given_name", "zainab")
