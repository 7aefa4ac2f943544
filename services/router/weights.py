"""The hand-set Fellegi-Sunter model (pure data), :data:`BASELINE`: the prior the trained
model (deploy/matching-model.json, services/router/estimation.py) starts EM from and
floors at half of, and what pure callers without a trained model score with. The router
itself scores with the trained file.

For each field and comparison level, ``m``
is the probability of that level when the two records are the same child, ``u`` when
they are two different children of one organisation's roll. The weight of a level is
``log2(m / u)``; a missing value weighs 0.

Where the numbers come from: ``m`` counted over true pairs, ``u`` over random pairs of
one roll, both on seeded generated data (the corruption model of
``tests/unit/test_router_matching_quality.py``: nicknames, misspellings, swapped names,
double-barrelled names given in part, day/month swaps and digit typos in the date of
birth, old and missing postcodes, siblings, twins, name changes), then rounded and
floored where the sample saw nothing (no level is ever proof). ``u`` is measured over
random pairs, not over the candidates blocking retrieves: within blocks the fields
blocked on agree by construction, and the independence the sum assumes breaks.
Known dependences are handled in :mod:`services.router.matching` instead: postcode and
address count once (a household), at the same home the family name weighs its average
whatever its term frequency (:meth:`MatchingModel.weight`), and siblings and twins, who
share family name and place, are kept from a ``match`` by rules. Re-estimate on a
partnership's own data with ``relay link`` before going live.

======================  =====  ======  =========  =====================================
field: level              m      u     weight     reading
======================  =====  ======  =========  =====================================
given: exact             0.88   0.01     +6.5     about 1 child in 100 shares a name
given: nickname          0.05   0.003    +4.1     Bill for William
given: shared_nickname   0.01   0.002    +2.3     Harry: Henry or Harrison (no match alone)
given: jw                0.03   0.001    +4.9     a misspelling (Jaro-Winkler ≥ 0.92)
given: edit              0.02   0.001    +4.3     one letter wrong, JW below 0.92
given: phonetic          0.005  0.001    +2.3     same sound, JW ≥ 0.80
given: fuzzy             0.01   0.02     -1.0     two letters wrong, cut short
given: other_name        0.005  0.001    +2.3     a middle name used
given: initial           0.005  0.02     -2.0
given: disagree          0.02   0.96     -5.6
family: exact            0.88   0.01     +6.5
family: part             0.03   0.002    +3.9     one half of a double-barrelled name
family: jw               0.04   0.001    +5.3
family: edit             0.02   0.001    +4.3
family: phonetic         0.005  0.001    +2.3
family: fuzzy            0.01   0.01      0.0     two letters wrong, cut short
family: disagree         0.04   0.98     -4.6     a name change, or another child
dob: exact               0.90   0.0003  +11.6     12 years of birthdays
dob: day_month_swap      0.02   0.0002   +6.6
dob: typo                0.05   0.005    +3.3     one digit, or two transposed
dob: component           0.02   0.01     +1.0
dob: year                0.005  0.07     -3.8
dob: disagree            0.005  0.91     -7.5
postcode: unit           0.80   0.002    +8.6     about 500 postcodes in a catchment
postcode: sector         0.03   0.02     +0.6
postcode: district       0.05   0.10     -1.0
postcode: area           0.08   0.50     -2.6     an old postcode, mostly
postcode: disagree       0.04   0.38     -3.2
address: same            0.80   0.001    +9.6
address: similar         0.05   0.10     -1.0
address: disagree        0.15   0.90     -2.6
sex: agree               0.98   0.50     +1.0
sex: disagree            0.02   0.50     -4.6
nhs / upn: agree         0.99   1e-7    +23.2     a checked identifier: near proof
nhs / upn: disagree      0.01   0.99999  -6.6
======================  =====  ======  =========  =====================================
"""

from __future__ import annotations

from math import log2

from services.router.comparisons import MISSING
from services.router.model import MatchingModel, Thresholds

M_U: dict[str, dict[str, tuple[float, float]]] = {
    "given_name": {
        "exact": (0.88, 0.01),
        "nickname": (0.05, 0.003),
        "shared_nickname": (0.01, 0.002),
        "jw": (0.03, 0.001),
        "edit": (0.02, 0.001),
        "phonetic": (0.005, 0.001),
        "fuzzy": (0.01, 0.02),
        "other_name": (0.005, 0.001),
        "initial": (0.005, 0.02),
        "disagree": (0.02, 0.96),
    },
    "family_name": {
        "exact": (0.88, 0.01),
        "part": (0.03, 0.002),
        "jw": (0.04, 0.001),
        "edit": (0.02, 0.001),
        "phonetic": (0.005, 0.001),
        "fuzzy": (0.01, 0.01),
        "disagree": (0.04, 0.98),
    },
    "date_of_birth": {
        "exact": (0.9, 0.0003),
        "day_month_swap": (0.02, 0.0002),
        "typo": (0.05, 0.005),
        "component": (0.02, 0.01),
        "year": (0.005, 0.07),
        "disagree": (0.005, 0.91),
    },
    "postcode": {
        "unit": (0.8, 0.002),
        "sector": (0.03, 0.02),
        "district": (0.05, 0.1),
        "area": (0.08, 0.5),
        "disagree": (0.04, 0.38),
    },
    "address": {
        "same": (0.8, 0.001),
        "similar": (0.05, 0.1),
        "disagree": (0.15, 0.9),
    },
    "sex": {
        "agree": (0.98, 0.5),
        "disagree": (0.02, 0.5),
    },
    "nhs_number": {
        "agree": (0.99, 1e-07),
        "disagree": (0.01, 0.99999),
    },
    "upn": {
        "agree": (0.99, 1e-07),
        "disagree": (0.01, 0.99999),
    },
}

# When the police swapped given and family names, the names are compared crosswise and
# the swap itself costs this much: it is a known error, but rarer than the agreement.
SWAP_PENALTY = 2.0

WEIGHTS: dict[str, dict[str, float]] = {
    field: {level: round(log2(m / u), 2) for level, (m, u) in levels.items()}
    for field, levels in M_U.items()
}


# The hand-set model: what pure callers (the person index, the unit tests) score with
# when handed no trained one. The router itself scores with the file it loads at
# start-up (deploy/matching-model.json) and refuses to start without it.
BASELINE = MatchingModel(M_U, Thresholds(match=18.0, review=8.0), SWAP_PENALTY)


def weight(field: str, level: str) -> float:
    """The match weight of ``field`` compared at ``level`` (0 when a value is missing)."""
    if level == MISSING:
        return 0.0
    return WEIGHTS[field][level]
