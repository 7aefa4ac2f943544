"""Estimating the matching model from unlabelled data (pure; DESIGN §6): the
Fellegi-Sunter method as Splink does it, over our own comparison levels.

- ``u`` (how often a level occurs between two different children): counted over random
  pairs of a police record and a roll row, nearly all of them different children.
- ``m`` (how often it occurs for the same child): expectation maximisation over the
  candidate pairs blocking retrieves, with ``u`` held fixed. One EM session per blocking
  rule, and in each session the fields that rule blocks on are left out: within a block
  they agree by construction, and would teach EM nothing but the rule. Each field's ``m``
  is the mean over the sessions that estimated it, floored at :data:`M_FLOOR` and at
  half the hand-set model's ``m`` (:data:`PRIOR_SHARE`).
- Term frequencies: each given and family name's share of the roll, kept for names held
  by at least ``min_count`` roll rows (rarer names are not listed: no child is singled
  out by the table, and a rare name's weight is bounded by the floor ``tf_minimum``);
  services/router/name_frequencies.py, which the router also uses on the live roll.

NHS number and UPN keep the hand-set ``m``/``u`` of the baseline: few police records
carry them, and their rules (services/router/matching.py) decide more than their weight.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from math import prod
from random import Random

from schemas.episode import ChildV1
from services.router.comparisons import MISSING
from services.router.directory import RollRecord
from services.router.matching import compare
from services.router.model import LEVELS, TF_MIN_COUNT, MatchingModel, Thresholds
from services.router.name_frequencies import of_roll, term_frequencies
from services.router.weights import BASELINE

ESTIMATED = ("given_name", "family_name", "date_of_birth", "postcode", "address", "sex")
# Blocking rule (a key column of services/router/blocking.py) -> the fields it blocks on.
SESSIONS: dict[str, tuple[str, ...]] = {
    "key_family_dob": ("family_name", "date_of_birth"),
    "key_given_dob": ("given_name", "date_of_birth"),
    "key_names": ("given_name", "family_name"),
}
# The least m of any level (the hand-set model's floor for what its sample never saw).
M_FLOOR = 0.005
# ... nor below this share of the hand-set model's m: one area's unlabelled records need
# not show every error police records make (nicknames, an old postcode), and what the
# sample lacks must not become evidence against the child.
PRIOR_SHARE = 0.5
Levels = dict[str, str]
Pattern = tuple[str, ...]
# child, blocking column -> the roll rows that child's probes of that column retrieve
Blocker = Callable[[ChildV1, str], Iterable[RollRecord]]


@dataclass(frozen=True)
class SessionResult:
    rule: str
    pairs: int
    prior: float  # share of the block's pairs that are the same child
    iterations: int
    m: dict[str, dict[str, float]]


def levels_of(child: ChildV1, record: RollRecord) -> Levels:
    """The comparison level of every field (as the router compares them)."""
    return compare(child, record).levels


def _frequencies(
    counts: Mapping[str, Counter[str]], prior: float = 0.5
) -> dict[str, dict[str, float]]:
    """Level shares per field, smoothed by ``prior`` pseudo-observations per level (no
    level is ever impossible, so no weight is ever infinite)."""
    out: dict[str, dict[str, float]] = {}
    for f in ESTIMATED:
        seen = counts.get(f, Counter())
        total = sum(seen.values()) + prior * len(LEVELS[f])
        out[f] = {level: (seen[level] + prior) / total for level in LEVELS[f]}
    return out


def estimate_u(
    children: Sequence[ChildV1], roll: Sequence[RollRecord], pairs: int, rng: Random
) -> dict[str, dict[str, float]]:
    """``u`` per field and level from ``pairs`` random (police record, roll row) pairs."""
    counts: dict[str, Counter[str]] = {f: Counter() for f in ESTIMATED}
    for _ in range(pairs):
        levels = levels_of(rng.choice(children), rng.choice(roll))
        for f in ESTIMATED:
            if levels[f] != MISSING:
                counts[f][levels[f]] += 1
    return _frequencies(counts)


def expectation_maximisation(
    patterns: Mapping[Pattern, int],
    fields: Sequence[str],
    m: Mapping[str, Mapping[str, float]],
    u: Mapping[str, Mapping[str, float]],
    prior: float = 0.1,
    iterations: int = 100,
    tolerance: float = 1e-6,
) -> tuple[dict[str, dict[str, float]], float, int]:
    """EM for ``m`` and the prior over pattern counts (one level per field of ``fields``,
    ``missing`` contributing nothing), ``u`` fixed. Returns (m, prior, iterations)."""
    m_now = {f: dict(m[f]) for f in fields}
    total = max(sum(patterns.values()), 1)
    done = 0
    while done < iterations:
        done += 1
        expected = {f: dict.fromkeys(LEVELS[f], 0.0) for f in fields}
        matches = 0.0
        for pattern, count in patterns.items():
            present = [(f, lv) for f, lv in zip(fields, pattern, strict=True) if lv != MISSING]
            pm = prior * prod(m_now[f][lv] for f, lv in present)
            pu = (1 - prior) * prod(u[f][lv] for f, lv in present)
            p = pm / (pm + pu) if pm + pu > 0 else 0.0
            matches += p * count
            for f, lv in present:
                expected[f][lv] += p * count
        # A hundredth of a pair per level: a level no pair showed stays possible.
        new_m = {
            f: {
                lv: (seen + 0.01) / (sum(expected[f].values()) + 0.01 * len(LEVELS[f]))
                for lv, seen in expected[f].items()
            }
            for f in fields
        }
        new_prior = min(max(matches / total, 1e-6), 1 - 1e-6)
        change = max(abs(new_m[f][lv] - m_now[f][lv]) for f in fields for lv in LEVELS[f])
        change = max(change, abs(new_prior - prior))
        m_now, prior = new_m, new_prior
        if change < tolerance:
            break
    return m_now, prior, done


def session(
    rule: str,
    children: Sequence[ChildV1],
    blocker: Blocker,
    u: Mapping[str, Mapping[str, float]],
    m_start: Mapping[str, Mapping[str, float]],
    cache: dict[tuple[int, int], Levels],
) -> SessionResult:
    """One EM session over the candidate pairs of one blocking rule."""
    fields = [f for f in ESTIMATED if f not in SESSIONS[rule]]
    patterns: Counter[Pattern] = Counter()
    for i, child in enumerate(children):
        for record in {id(r): r for r in blocker(child, rule)}.values():
            key = (i, id(record))
            levels = cache.get(key)
            if levels is None:
                levels = cache[key] = levels_of(child, record)
            patterns[tuple(levels[f] for f in fields)] += 1
    m, prior, iterations = expectation_maximisation(patterns, fields, m_start, u)
    return SessionResult(rule, sum(patterns.values()), prior, iterations, m)


def floored(m: Mapping[str, float], prior: Mapping[str, float] | None = None) -> dict[str, float]:
    """``m`` with no level below :data:`M_FLOOR` nor below ``prior``, renormalised: a
    level the training data never showed for the same child (a moved family's postcode,
    a nickname) is rare, not impossible, and must not weigh as proof against."""
    prior = prior or {}
    raised = {lv: max(p, M_FLOOR, prior.get(lv, 0.0)) for lv, p in m.items()}
    total = sum(raised.values())
    return {lv: p / total for lv, p in raised.items()}


def train(
    roll: Sequence[RollRecord],
    children: Sequence[ChildV1],
    blocker: Blocker,
    rng: Random,
    thresholds: Thresholds,
    random_pairs: int = 200_000,
    min_count: int = TF_MIN_COUNT,
) -> MatchingModel:
    """A model estimated from ``roll`` and unlabelled police ``children``."""
    u = estimate_u(children, roll, random_pairs, rng)
    m_start = {f: {lv: BASELINE.m_u[f][lv][0] for lv in LEVELS[f]} for f in ESTIMATED}
    cache: dict[tuple[int, int], Levels] = {}
    results = [session(rule, children, blocker, u, m_start, cache) for rule in SESSIONS]
    m_u: dict[str, dict[str, tuple[float, float]]] = {}
    for f in ESTIMATED:
        estimates = [r.m[f] for r in results if f in r.m]
        prior = {lv: BASELINE.m_u[f][lv][0] * PRIOR_SHARE for lv in LEVELS[f]}
        m = floored({lv: sum(e[lv] for e in estimates) / len(estimates) for lv in LEVELS[f]}, prior)
        m_u[f] = {lv: (m[lv], u[f][lv]) for lv in LEVELS[f]}
    for f in ("nhs_number", "upn"):
        m_u[f] = dict(BASELINE.m_u[f])
    tf = of_roll(roll, min_count).tables
    trained = {
        "roll_rows": len(roll),
        "records": len(children),
        "random_pairs": random_pairs,
        "tf_min_count": min_count,
        "sessions": [
            {
                "rule": r.rule,
                "pairs": r.pairs,
                "prior": round(r.prior, 6),
                "iterations": r.iterations,
            }
            for r in results
        ],
        "fixed": ["nhs_number", "upn"],
    }
    return MatchingModel(m_u, thresholds, BASELINE.swap_penalty, tf, trained)


__all__ = [
    "ESTIMATED",
    "SESSIONS",
    "estimate_u",
    "expectation_maximisation",
    "floored",
    "levels_of",
    "session",
    "term_frequencies",
    "train",
]
