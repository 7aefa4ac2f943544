"""Field comparisons for identity matching (pure): each compares one field of a police
record with one roll record and answers a *level*, e.g. given name ``nickname`` or date
of birth ``day_month_swap``. :mod:`services.router.weights` turns levels into match
weights; :mod:`services.router.matching` decides.

String similarity (Jaro-Winkler, token sets) comes from rapidfuzz and phonetic codes
from jellyfish; nothing here hand-writes a string distance. Every function takes values
already normalised (:func:`services.router.names.normalise_name`, postcodes as
``NE61 1AA``) and caches what repeats across a roll.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Literal

import jellyfish
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler

from services.router.nicknames import are_variants, shared_variant

Agreement = Literal["agree", "partial", "disagree", "missing"]

# Jaro-Winkler similarity at or above which two names are the same name misspelt.
# 0.92 keeps "Jon"/"Joan" apart, joins "Mohammed"/"Mohammad" and "Katherine"/"Katharine".
JW_CLOSE = 0.92

GIVEN_LEVELS = (
    "exact",
    "nickname",
    "shared_nickname",
    "jw",
    "edit",
    "phonetic",
    "fuzzy",
    "other_name",
    "initial",
    "disagree",
)
FAMILY_LEVELS = ("exact", "part", "jw", "edit", "phonetic", "fuzzy", "disagree")
DOB_LEVELS = ("exact", "day_month_swap", "typo", "component", "year", "disagree")
POSTCODE_LEVELS = ("unit", "sector", "district", "area", "disagree")
ADDRESS_LEVELS = ("same", "similar", "disagree")
SEX_LEVELS = ("agree", "disagree")
IDENTIFIER_LEVELS = ("agree", "disagree")
MISSING = "missing"

# Which agreement each level means in a decision's explanation.
AGREEMENT: dict[str, Agreement] = {
    "exact": "agree",
    "unit": "agree",
    "same": "agree",
    "agree": "agree",
    "nickname": "partial",
    "shared_nickname": "partial",
    "jw": "partial",
    "edit": "partial",
    "phonetic": "partial",
    "fuzzy": "partial",
    "other_name": "partial",
    "initial": "partial",
    "part": "partial",
    "day_month_swap": "partial",
    "typo": "partial",
    "component": "partial",
    "year": "partial",
    "sector": "partial",
    "district": "partial",
    "area": "partial",
    "similar": "partial",
    "disagree": "disagree",
    MISSING: "missing",
}


@lru_cache(maxsize=262_144)
def phonetic_code(word: str) -> str:
    """Metaphone of one normalised word with spaces removed ('' for none)."""
    compact = word.replace(" ", "")
    return jellyfish.metaphone(compact) if compact else ""


@lru_cache(maxsize=262_144)
def _jw(a: str, b: str) -> float:
    return JaroWinkler.similarity(a, b)


# Phonetic codes alone join different short names (Wood/White are both WT): a phonetic
# agreement also needs this much Jaro-Winkler similarity and the same first letter.
JW_PHONETIC = 0.80


# A name mangled further (two letters wrong, cut short, scanned badly): JW at least this,
# two edits at most, or one name the start of the other. Weak evidence alone; matching
# also ignores it when the police spelling is itself a name other children hold.
JW_FUZZY = 0.85


# Scanning errors undone before a fuzzy comparison (rn read for m, 0 for o, ...).
_OCR = (("rn", "m"), ("li", "h"), ("ri", "n"), ("vv", "w"), ("cl", "d"), ("0", "o"),
        ("1", "l"), ("5", "s"))  # fmt: skip


@lru_cache(maxsize=65_536)
def _unscanned(word: str) -> str:
    for wrong, right in _OCR:
        word = word.replace(wrong, right)
    return word


def _fuzzy(a: str, b: str) -> bool:
    short, long = sorted((a, b), key=len)
    if len(short) >= 2 and long.startswith(short):
        return True
    limit = 2 if len(short) >= 5 else 1
    if len(short) >= 2 and OSA.distance(a, b, score_cutoff=limit) <= limit:
        return True
    ua, ub = _unscanned(a), _unscanned(b)
    if (ua, ub) != (a, b) and min(len(ua), len(ub)) >= 2 and OSA.distance(ua, ub) <= 1:
        return True
    return _jw(a, b) >= JW_FUZZY


def _close(a: str, b: str) -> str | None:
    """``jw``, ``edit`` or ``phonetic`` when two different words are one name misspelt."""
    similarity = _jw(a, b)
    if similarity >= JW_CLOSE:
        return "jw"
    if min(len(a), len(b)) >= 4 and OSA.distance(a, b, score_cutoff=1) <= 1:
        # One letter wrong, missing, extra or two transposed (Isbac, Hraris, Edwars).
        return "edit"
    if similarity >= JW_PHONETIC and a[:1] == b[:1] and phonetic_code(a) == phonetic_code(b):
        return "phonetic"
    return None


def compare_given(ours: str, theirs: str) -> str:
    """Given names: ``exact`` (first names equal), ``nickname`` (Bill/William),
    ``shared_nickname`` (Harry: Henry or Harrison),
    ``jw``/``edit``/``phonetic`` (a misspelling), ``fuzzy`` (mangled further or cut
    short), ``other_name`` (the police used a middle
    name the roll also holds), ``initial`` (one side is an initial), ``disagree``."""
    if not ours or not theirs:
        return MISSING
    a_words, b_words = ours.split(), theirs.split()
    a, b = a_words[0], b_words[0]
    if a == b or ours.replace(" ", "") == theirs.replace(" ", ""):
        return "exact"
    if len(a) == 1 or len(b) == 1:
        return "initial" if a[0] == b[0] else "disagree"
    if are_variants(a, b):
        return "shared_nickname" if shared_variant(a, b) else "nickname"
    close = _close(a, b)
    if close:
        return close
    if set(a_words) & set(b_words):
        return "other_name"
    return "fuzzy" if _fuzzy(a, b) else "disagree"


def compare_family(ours: str, theirs: str) -> str:
    """Family names: ``exact`` (spaces and hyphens ignored), ``part`` (one part of a
    double-barrelled name, Smith for Smith-Jones), ``jw``/``edit``/``phonetic``,
    ``fuzzy``, ``disagree``."""
    if not ours or not theirs:
        return MISSING
    if ours == theirs or ours.replace(" ", "") == theirs.replace(" ", ""):
        return "exact"
    a_words, b_words = ours.split(), theirs.split()
    if (len(a_words) > 1 or len(b_words) > 1) and (
        set(a_words) <= set(b_words) or set(b_words) <= set(a_words)
    ):
        return "part"
    close = _close(ours.replace(" ", ""), theirs.replace(" ", ""))
    if close:
        return close
    if len(a_words) > 1 or len(b_words) > 1:
        # One misspelt part of a double-barrelled name: Smith-Jones / Smyth.
        for x in a_words:
            for y in b_words:
                if len(x) > 2 and len(y) > 2 and (x == y or _close(x, y)):
                    return "part"
    return "fuzzy" if _fuzzy(ours.replace(" ", ""), theirs.replace(" ", "")) else "disagree"


def _digits(d: date) -> str:
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def compare_dob(ours: date | None, theirs: date | None) -> str:
    """Dates of birth: ``exact``, ``day_month_swap`` (4 March / 3 April), ``typo`` (one
    digit wrong, or two neighbouring digits transposed), ``component`` (two of day, month
    and year agree), ``year`` (only the year agrees), ``disagree``."""
    if ours is None or theirs is None:
        return MISSING
    if ours == theirs:
        return "exact"
    if ours.year == theirs.year and ours.day == theirs.month and ours.month == theirs.day:
        return "day_month_swap"
    a, b = _digits(ours), _digits(theirs)
    diffs = [i for i in range(8) if a[i] != b[i]]
    if len(diffs) == 1 or (
        len(diffs) == 2
        and diffs[1] == diffs[0] + 1
        and a[diffs[0]] == b[diffs[1]]
        and a[diffs[1]] == b[diffs[0]]
    ):
        return "typo"
    same = (ours.year == theirs.year) + (ours.month == theirs.month) + (ours.day == theirs.day)
    if same == 2:
        return "component"
    if ours.year == theirs.year:
        return "year"
    return "disagree"


def _area(outward: str) -> str:
    """The postcode area: the outward code's leading letters (NE61 -> NE)."""
    end = 0
    while end < len(outward) and outward[end].isalpha():
        end += 1
    return outward[:end]


def compare_postcode(ours: str | None, theirs: str | None) -> str:
    """Postcodes (normalised ``NE61 1AA``): ``unit`` (the same), ``sector`` (NE61 1),
    ``district`` (NE61), ``area`` (NE), ``disagree``."""
    if not ours or not theirs:
        return MISSING
    if ours == theirs:
        return "unit"
    a_out, _, a_in = ours.partition(" ")
    b_out, _, b_in = theirs.partition(" ")
    if a_out == b_out:
        return "sector" if a_in[:1] == b_in[:1] else "district"
    if _area(a_out) == _area(b_out):
        return "area"
    return "disagree"


@lru_cache(maxsize=65_536)
def _address_text(value: str) -> tuple[str, frozenset[str]]:
    text = " ".join(value.casefold().replace(",", " ").split())
    return text, frozenset(w for w in text.split() if any(c.isdigit() for c in w))


def compare_address(ours: str | None, theirs: str | None) -> str:
    """Addresses: ``same`` (token-set similarity ≥ 90 and the house numbers agree),
    ``similar`` (≥ 75, e.g. the same street), ``disagree``."""
    if not ours or not theirs:
        return MISSING
    a, a_numbers = _address_text(ours)
    b, b_numbers = _address_text(theirs)
    score = fuzz.token_set_ratio(a, b)
    if score >= 90 and (not a_numbers or not b_numbers or a_numbers & b_numbers):
        return "same"
    if score >= 75:
        return "similar"
    return "disagree"


def _sex(value: str) -> str:
    return value.strip().casefold()[:1]


def same_home(postcode: str, address: str) -> bool:
    """Whether the postcode and address levels place both records at one home: the
    postcode is the same, or the address agrees."""
    return postcode == "unit" or address == "same"


def compare_sex(ours: str | None, theirs: str | None) -> str:
    """Sex as recorded (female/male/f/m; anything else, e.g. unknown, is missing)."""
    a, b = _sex(ours or ""), _sex(theirs or "")
    if a not in ("f", "m") or b not in ("f", "m"):
        return MISSING
    return "agree" if a == b else "disagree"


def compare_identifier(ours: str | None, theirs: str | None) -> str:
    """NHS number or UPN, both already validated: ``agree``, ``disagree`` or missing."""
    if not ours or not theirs:
        return MISSING
    return "agree" if ours == theirs else "disagree"
