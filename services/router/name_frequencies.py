"""How common each name is on the roll being matched (issue 22; pure, no I/O).

Splink takes term frequencies from the data it links, not from the data it was trained
on: a partnership's roll can hold one name for one child in twenty where the training
roll held it for one in two hundred, and two children of that name agree by chance ten
times as often there. So the router weighs an exact name by the live roll's share of
it (computed at each roll import, services/router/frequency_store.py), and ``relay
matching evaluate``, ``misses``, ``link`` and ``train``'s threshold choice by the share
on the roll file they are given: both through :func:`for_matching`, so a figure measured
on a file is what the router would do with that roll imported.

A roll of fewer than :data:`LIVE_MIN_ROWS` rows keeps the model file's table: there a
name held by five children (the least a table lists, :data:`~services.router.model.
TF_MIN_COUNT`) would be half a percent or more of the roll, a share that says more
about the roll's size than about the name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from services.router.directory import RollRecord
from services.router.model import TF_FIELDS, TF_MIN_COUNT, MatchingModel, TermFrequencies

# The fewest roll rows whose own name shares replace the model file's (see above).
LIVE_MIN_ROWS = 1_000

Source = Literal["roll", "model file", "none"]


def term_frequencies(names: Iterable[str], min_count: int = TF_MIN_COUNT) -> TermFrequencies:
    """Each name's share of ``names``; names rarer than ``min_count`` are left out and
    count as the floor ``min_count / len(names)``."""
    counts = Counter(names)
    return from_counts(counts, sum(counts.values()), min_count)


def from_counts(counts: Mapping[str, int], total: int, min_count: int) -> TermFrequencies:
    """:func:`term_frequencies` from each name's count among ``total`` names (a database
    counts them; names below ``min_count`` may be left out of ``counts``)."""
    total = max(total, 1)
    return TermFrequencies(
        min(min_count / total, 1.0),
        {name: n / total for name, n in counts.items() if n >= min_count and name},
    )


def first_given(norm_given: str) -> str:
    """The name a given-name table counts: the first of a child's normalised given
    names (a middle name is not what the police write first)."""
    return norm_given.split(" ", 1)[0]


@dataclass(frozen=True)
class RollFrequencies:
    """A roll's name tables (given and family name), over ``rows`` roll rows, listing
    names held by at least ``min_count`` rows."""

    rows: int
    min_count: int
    tables: Mapping[str, TermFrequencies]

    def names(self) -> dict[str, int]:
        """How many names each table lists (a count: what may be logged)."""
        return {f: len(tf.values) for f, tf in self.tables.items()}


def of_roll(records: Iterable[RollRecord], min_count: int = TF_MIN_COUNT) -> RollFrequencies:
    """The name tables of a roll held in memory (a roll file, the training roll)."""
    given: Counter[str] = Counter()
    family: Counter[str] = Counter()
    for record in records:
        given[first_given(record.norm_given)] += 1
        family[record.norm_family] += 1
    rows = sum(family.values())
    return of_counts(rows, min_count, given, family)


def of_counts(
    rows: int, min_count: int, given: Mapping[str, int], family: Mapping[str, int]
) -> RollFrequencies:
    """The name tables from each (first given, family) name's count over ``rows``."""
    return RollFrequencies(
        rows,
        min_count,
        {
            "given_name": from_counts(given, rows, min_count),
            "family_name": from_counts(family, rows, min_count),
        },
    )


@dataclass(frozen=True)
class Chosen:
    """The model to match with and where its name tables come from (for the log)."""

    model: MatchingModel
    source: Source
    names: Mapping[str, int]
    why: str

    def describe(self) -> str:
        counts = ", ".join(f"{n} {f.removesuffix('_name')}" for f, n in self.names.items())
        return f"{self.source} ({counts or 'no'} names): {self.why}"


def for_matching(model: MatchingModel, live: RollFrequencies | None) -> Chosen:
    """``model`` with the name tables of the roll it matches against (``live``) in
    place of its own, when that roll has :data:`LIVE_MIN_ROWS` rows or more and its
    tables keep names by the model's own count; otherwise ``model`` as it is. A model
    with no tables (the hand-set one) stays without."""
    own = {f: len(tf.values) for f, tf in model.term_frequencies.items()}
    if not model.term_frequencies:
        return Chosen(model, "none", {}, "the model weighs names without frequencies")
    if live is None:
        return Chosen(model, "model file", own, "no roll's name frequencies are stored")
    if live.rows < LIVE_MIN_ROWS:
        why = f"the roll has {live.rows} rows, fewer than {LIVE_MIN_ROWS}"
        return Chosen(model, "model file", own, why)
    if live.min_count != model.tf_min_count:
        why = (
            f"the roll's tables list names held by {live.min_count} rows, "
            f"the model's by {model.tf_min_count}"
        )
        return Chosen(model, "model file", own, why)
    tables = {f: live.tables[f] for f in TF_FIELDS if f in live.tables}
    chosen = model.with_term_frequencies(tables)
    return Chosen(chosen, "roll", live.names(), f"the roll's {live.rows} rows")


__all__ = [
    "LIVE_MIN_ROWS",
    "Chosen",
    "RollFrequencies",
    "first_given",
    "for_matching",
    "from_counts",
    "of_counts",
    "of_roll",
    "term_frequencies",
]
