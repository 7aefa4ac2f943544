"""The matching model (DESIGN §6): Fellegi-Sunter ``m`` and ``u`` for every comparison
level, how common each name is, and the thresholds, as one typed value the router scores
with. It is read from a versioned JSON file (``deploy/matching-model.json``, written by
``relay matching train``); a file that does not load raises :class:`ModelFileError`
naming the problem, and the router refuses to start rather than match with defaults.

A level's weight is ``log2(m / u)``; a missing value weighs 0. Term frequencies: for an
exact given or family name the table holds, ``u`` is the name's share of the roll instead
of the level's average (two Olivers agree by chance far more often than two Saoirses),
floored at ``minimum`` and at most :data:`TF_MAX_BOOST` bits above the average; a name
the table does not hold keeps the average, and so does the family name at the police
record's home (a household shares it: :meth:`MatchingModel.weight`).

File format (``version`` 1)::

    {"version": 1,
     "trained": {"at": "...", "roll_rows": 5000, "records": 4000, ...},   # informative
     "thresholds": {"match": 18.0, "review": 8.0, "ambiguity_margin": 5.0},
     "swap_penalty": 2.0,
     "fields": {"given_name": {"exact": {"m": 0.88, "u": 0.01}, ...}, ...},
     "term_frequencies": {"given_name": {"minimum": 0.0005, "values": {"oliver": 0.012}},
                          "family_name": {...}},
     "rules": {"other_given_name_at_home": "review",                   # optional
               "birth_date_wrong_at_home": "review"}}

Every field and level of :data:`LEVELS` must be present with ``0 < m, u <= 1``. ``rules``
holds the decision rules an owner opts in to (:class:`Rules`); a rule absent keeps
today's behaviour, and a rule or value the router does not know does not load.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from math import log2
from pathlib import Path
from typing import Any, Literal, get_args

from rapidfuzz import process
from rapidfuzz.distance import OSA

from services.router.comparisons import (
    ADDRESS_LEVELS,
    AGREEMENT,
    DOB_LEVELS,
    FAMILY_LEVELS,
    GIVEN_LEVELS,
    IDENTIFIER_LEVELS,
    MISSING,
    POSTCODE_LEVELS,
    SEX_LEVELS,
)

MODEL_VERSION = 1

LEVELS: dict[str, tuple[str, ...]] = {
    "given_name": GIVEN_LEVELS,
    "family_name": FAMILY_LEVELS,
    "date_of_birth": DOB_LEVELS,
    "postcode": POSTCODE_LEVELS,
    "address": ADDRESS_LEVELS,
    "sex": SEX_LEVELS,
    "nhs_number": IDENTIFIER_LEVELS,
    "upn": IDENTIFIER_LEVELS,
}
# A name the table does not hold keeps the level's average weight: the table may come
# from another roll than the one matched (a partnership's roll changes between trainings),
# and a name unknown there says nothing about how common it is here. For the same reason
# a listed rare name weighs at most this many bits above the average.
TF_MAX_BOOST = 3.0
# The name a household shares: at the police record's home it agrees because of the
# household, not by chance (:meth:`MatchingModel.weight`).
HOUSEHOLD_FIELD = "family_name"
# Each field's full agreement.
TOP_LEVEL = {
    "given_name": "exact",
    "family_name": "exact",
    "date_of_birth": "exact",
    "postcode": "unit",
    "address": "same",
}
# Fields whose exact level is adjusted for how common the name is.
TF_FIELDS = ("given_name", "family_name")
TF_LEVEL = "exact"
# A table lists names held by at least this many roll rows (unless the model file says
# otherwise: ``trained.tf_min_count``); rarer names count as the table's floor.
TF_MIN_COUNT = 5
_NEAREST_CACHE = 65_536


class ModelFileError(ValueError):
    """The matching model file does not load; the message names the file and why."""


@dataclass(frozen=True)
class Thresholds:
    match: float
    review: float
    ambiguity_margin: float = 5.0


@dataclass(frozen=True)
class TermFrequencies:
    """How common each (normalised) name is on the roll; names not in ``values`` are
    rarer than the table kept, and count as ``minimum``."""

    minimum: float
    values: Mapping[str, float] = field(default_factory=dict)
    # spelling -> its two nearest names in ``values`` by edits (a cache: the police
    # spellings that need it are few and repeat).
    _nearest: dict[str, tuple[tuple[int, str], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def share(self, name: str) -> float:
        return max(self.values.get(name, self.minimum), self.minimum)

    def holds(self, name: str) -> bool:
        return name in self.values

    def fewest_edits_besides(self, spelling: str, name: str) -> int | None:
        """The fewest edits (insert, delete, substitute, transpose) from ``spelling`` to
        a name in the table other than ``name`` (None: the table holds no other)."""
        nearest = self._nearest.get(spelling)
        if nearest is None:
            if len(self._nearest) >= _NEAREST_CACHE:
                self._nearest.clear()
            found = process.extract(spelling, list(self.values), scorer=OSA.distance, limit=2)
            nearest = self._nearest[spelling] = tuple((int(d), n) for n, d, _ in found)
        return next((d for d, n in nearest if n != name), None)


OtherGivenNameAtHome = Literal["review", "match", "auto"]
BirthDateWrongAtHome = Literal["review", "match"]


@dataclass(frozen=True)
class Rules:
    """Decision rules the model file's owner chooses (the defaults: today's behaviour).

    ``other_given_name_at_home``: a police record whose given name is another name
    altogether, with the birth date exact, the family name exact or one slip away, at the
    roll row's home, and the sex not disagreeing. ``review`` (default): a person decides,
    since that is also what the child's twin on no roll looks like. ``match``: matched
    above the match threshold, unless the directory holds a twin of the row anywhere
    (:mod:`services.router.candidate_rules`, :mod:`services.router.matching`). ``auto``:
    ``match`` where the directory's GP lists hold nearly every school child, else
    ``review`` (:mod:`services.router.gp_coverage` resolves it before a model scores;
    unresolved, it acts as ``review``).

    ``birth_date_wrong_at_home``: a police record with the row's given and family names
    as written, at its very address, and another birth date, scoring between the review
    and match thresholds. ``review`` (default): a person decides. ``match``: matched,
    since siblings do not share a first name and a twin shares the date
    (:func:`services.router.candidate_rules._birth_date_wrong_at_home`). The person
    index never links on either rule."""

    other_given_name_at_home: OtherGivenNameAtHome = "review"
    birth_date_wrong_at_home: BirthDateWrongAtHome = "review"


@dataclass(frozen=True)
class MatchingModel:
    m_u: Mapping[str, Mapping[str, tuple[float, float]]]
    thresholds: Thresholds
    swap_penalty: float = 2.0
    term_frequencies: Mapping[str, TermFrequencies] = field(default_factory=dict)
    trained: Mapping[str, Any] = field(default_factory=dict)
    rules: Rules = field(default_factory=Rules)
    weights: Mapping[str, Mapping[str, float]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        weights = {
            f: {level: log2(m / u) for level, (m, u) in levels.items()}
            for f, levels in self.m_u.items()
        }
        # No partial agreement weighs more than full agreement on the same field (a level
        # the data rarely showed either way, other_name or initial, can otherwise come out
        # with a tiny u and a large weight). For names, :meth:`weight` keeps it so with
        # term frequencies too.
        for f, top in TOP_LEVEL.items():
            if f in weights:
                cap = weights[f][top]
                for level in weights[f]:
                    if level != top:
                        weights[f][level] = min(weights[f][level], cap)
        object.__setattr__(self, "weights", weights)

    @property
    def tf_min_count(self) -> int:
        """The fewest roll rows a name of its tables is held by."""
        return int(self.trained.get("tf_min_count", TF_MIN_COUNT))

    def with_term_frequencies(self, tables: Mapping[str, TermFrequencies]) -> MatchingModel:
        """This model with other name tables (another roll's); ``weights`` are worked
        out afresh and each table keeps its own cache of nearest names."""
        return replace(self, term_frequencies=dict(tables))

    def weight(
        self,
        field_name: str,
        level: str,
        name: str | None = None,
        written: str | None = None,
        *,
        at_home: bool = False,
    ) -> float:
        """The match weight of ``field_name`` at ``level``; for an exact name with a
        term-frequency table, adjusted for how common ``name`` (the roll's) is. A partial
        agreement weighs no more than an exact one would on either name, the roll's or
        the one ``written`` on the police record: Muhamad for Muhammad says no more than
        Muhammad (one child in eleven here), and Mia for Amelia no more than Amelia.

        ``at_home``: the roll record is at the police record's home (the same postcode,
        or the address agrees). There the family name weighs its level's average, as a
        name the table does not hold, however rare or common: households share family
        names, so at the same home a sibling agrees on it because of the household, not
        by chance, and how rare the name is says nothing more about which child this is
        (the independence Fellegi-Sunter assumes does not hold within a household; a
        rare family name weighed up to :data:`TF_MAX_BOOST` bits more there and lifted
        siblings at home over the review threshold)."""
        if level == MISSING:
            return 0.0
        average = self.weights[field_name][level]
        if at_home and field_name == HOUSEHOLD_FIELD:
            return average
        if level == TF_LEVEL:
            return self._exact(field_name, name, average)
        if AGREEMENT[level] != "partial":
            return average
        return min(
            average,
            self._exact(field_name, name, average),
            self._exact(field_name, written, average),
        )

    def _exact(self, field_name: str, name: str | None, otherwise: float) -> float:
        tf = self.term_frequencies.get(field_name)
        if tf is None or name is None or not tf.holds(name):
            return otherwise
        exact = self.weights[field_name][TF_LEVEL]
        return min(log2(self.m_u[field_name][TF_LEVEL][0] / tf.share(name)), exact + TF_MAX_BOOST)

    def nearest_is(self, field_name: str, spelling: str, name: str, limit: int) -> bool:
        """Whether ``spelling`` (no name the table holds) is within ``limit`` edits of
        ``name`` and nearer to it than to any other name in the table: a name mangled
        past recognition by rule (Gaddrge for George), yet written from this name rather
        than from another child's."""
        tf = self.term_frequencies.get(field_name)
        if tf is None or tf.holds(spelling):
            return False
        edits = OSA.distance(spelling, name, score_cutoff=limit)
        if edits > limit or edits >= len(name):
            return False
        other = tf.fewest_edits_besides(spelling, name)
        return other is None or edits < other

    def known_name(self, field_name: str, name: str) -> bool:
        """Whether ``name`` is a name several children on the roll hold (so, written by
        the police, more likely another child's name than a mangled spelling)."""
        tf = self.term_frequencies.get(field_name)
        return tf is not None and tf.holds(name)


def model_to_dict(model: MatchingModel) -> dict[str, Any]:
    return {
        "version": MODEL_VERSION,
        "trained": dict(model.trained),
        "thresholds": {
            "match": model.thresholds.match,
            "review": model.thresholds.review,
            "ambiguity_margin": model.thresholds.ambiguity_margin,
        },
        "swap_penalty": model.swap_penalty,
        "fields": {
            f: {level: {"m": m, "u": u} for level, (m, u) in levels.items()}
            for f, levels in model.m_u.items()
        },
        "term_frequencies": {
            f: {"minimum": tf.minimum, "values": dict(sorted(tf.values.items()))}
            for f, tf in model.term_frequencies.items()
        },
        "rules": {
            "other_given_name_at_home": model.rules.other_given_name_at_home,
            "birth_date_wrong_at_home": model.rules.birth_date_wrong_at_home,
        },
    }


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelFileError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _probability(value: Any, where: str) -> float:
    p = _number(value, where)
    if not 0.0 < p <= 1.0:
        raise ModelFileError(f"{where}: {p} is not a probability in (0, 1]")
    return p


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ModelFileError(f"{where}: expected an object")
    return value


def _rules(data: Any) -> Rules:
    rules = _object(data, "rules")
    known = ("other_given_name_at_home", "birth_date_wrong_at_home")
    unknown = sorted(rules.keys() - set(known))
    if unknown:
        raise ModelFileError(f"rules.{unknown[0]}: not a rule (known: {', '.join(known)})")
    other_given = rules.get("other_given_name_at_home", "review")
    birth_date = rules.get("birth_date_wrong_at_home", "review")
    for name, value, allowed in (
        ("other_given_name_at_home", other_given, get_args(OtherGivenNameAtHome)),
        ("birth_date_wrong_at_home", birth_date, get_args(BirthDateWrongAtHome)),
    ):
        if value not in allowed:
            raise ModelFileError(
                f"rules.{name}: {value!r} is not one of " + ", ".join(repr(a) for a in allowed)
            )
    return Rules(other_given_name_at_home=other_given, birth_date_wrong_at_home=birth_date)


def model_from_dict(data: Any) -> MatchingModel:
    """A model from parsed JSON; raises :class:`ModelFileError` naming the first problem."""
    data = _object(data, "the model")
    version = data.get("version")
    if version != MODEL_VERSION:
        raise ModelFileError(f"version {version!r} is not supported (expected {MODEL_VERSION})")
    fields = _object(data.get("fields"), "fields")
    m_u: dict[str, dict[str, tuple[float, float]]] = {}
    for f, levels in LEVELS.items():
        given = _object(fields.get(f), f"fields.{f}")
        m_u[f] = {}
        for level in levels:
            if level not in given:
                raise ModelFileError(f"fields.{f}: level {level!r} is missing")
            pair = _object(given[level], f"fields.{f}.{level}")
            m_u[f][level] = (
                _probability(pair.get("m"), f"fields.{f}.{level}.m"),
                _probability(pair.get("u"), f"fields.{f}.{level}.u"),
            )
    t = _object(data.get("thresholds"), "thresholds")
    thresholds = Thresholds(
        _number(t.get("match"), "thresholds.match"),
        _number(t.get("review"), "thresholds.review"),
        _number(t.get("ambiguity_margin", 5.0), "thresholds.ambiguity_margin"),
    )
    if thresholds.review > thresholds.match:
        raise ModelFileError("thresholds.review is above thresholds.match")
    tfs: dict[str, TermFrequencies] = {}
    for f, raw in _object(data.get("term_frequencies", {}), "term_frequencies").items():
        if f not in TF_FIELDS:
            raise ModelFileError(f"term_frequencies.{f}: not a name field")
        tf = _object(raw, f"term_frequencies.{f}")
        values = _object(tf.get("values", {}), f"term_frequencies.{f}.values")
        tfs[f] = TermFrequencies(
            _probability(tf.get("minimum"), f"term_frequencies.{f}.minimum"),
            {str(k): _probability(v, f"term_frequencies.{f}.values") for k, v in values.items()},
        )
    return MatchingModel(
        m_u,
        thresholds,
        _number(data.get("swap_penalty", 2.0), "swap_penalty"),
        tfs,
        _object(data.get("trained", {}), "trained"),
        _rules(data.get("rules", {})),
    )


def read_model(path: Path) -> MatchingModel:
    """The model in ``path``; :class:`ModelFileError` says which file and what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelFileError(f"matching model {path}: cannot be read ({exc.strerror})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"matching model {path}: not JSON ({exc})") from exc
    try:
        return model_from_dict(data)
    except ModelFileError as exc:
        raise ModelFileError(f"matching model {path}: {exc}") from exc


def write_model(model: MatchingModel, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model_to_dict(model), indent=1) + "\n", encoding="utf-8")


__all__ = [
    "LEVELS",
    "MODEL_VERSION",
    "TF_MIN_COUNT",
    "MatchingModel",
    "ModelFileError",
    "OtherGivenNameAtHome",
    "Rules",
    "TermFrequencies",
    "Thresholds",
    "model_from_dict",
    "model_to_dict",
    "read_model",
    "write_model",
]
