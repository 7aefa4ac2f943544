"""Blocking keys: how a lookup finds a few candidate roll records, not the whole roll
(pure). Each roll row stores six keys at import (the person index's episodes the first
four); a police record probes them with its own values and the variants police records
get wrong (given and family names swapped, day and month swapped, a double-barrelled
surname given in part).

- ``key_family_dob``: phonetic last part of the family name + date of birth (typos in
  names, nicknames)
- ``key_names``: canonical given name + phonetic first part of the family name (typos in
  the date of birth)
- ``key_place``: postcode + year of birth (a changed name, e.g. after adoption; probed
  with the years one mistyped digit makes too)
- ``key_given_dob``: canonical given name + date of birth (a misspelt family name that
  changes its phonetic code, Armtrong for Armstrong, when there is no postcode)
- ``key_address`` (the roll only, not the person index): house number + sound of the
  street's first word + the town's first letter (a record with no postcode whose names
  are both misspelt or cut short, or one name and the date: :func:`address_key`)
- ``key_initials_dob`` (the roll only): the given and family names' first letters + date
  of birth (both names misspelt or cut short past their sounds, Rily Ev for Riley Evans,
  and no address: :func:`initials_key`)

A double-barrelled name on the roll (Smith-Jones) is met by a police record holding
either part: "Jones" through its last part, "Smith" through its first.

``key_names`` holds no date, so a common name retrieves every child of that name on
every roll (150 rows for one at 1,000,000 roll rows, issue 22); a row it alone finds is
compared only when :func:`names_row_fits`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import jellyfish

from services.router.names import normalise_name
from services.router.nicknames import canonical_given

KEY_COLUMNS = ("key_family_dob", "key_names", "key_place", "key_given_dob")
# Stored with roll rows only (the person index's episodes do not carry them): the key
# probed with one value, and the columns probed with a set (roll_probe_keys).
ADDRESS_KEY = "key_address"
ROLL_KEY_COLUMNS = (*KEY_COLUMNS, "key_initials_dob")
# The keys a roll row holds beyond KEY_COLUMNS, in the order roll_only_keys gives them.
ROLL_ONLY_COLUMNS = (ADDRESS_KEY, "key_initials_dob")


@lru_cache(maxsize=131_072)
def phonetic(name: str) -> str:
    """Metaphone of a normalised name with its spaces removed ('' for an empty name)."""
    compact = normalise_name(name).replace(" ", "")
    return jellyfish.metaphone(compact) if compact else ""


@dataclass(frozen=True)
class BlockingKeys:
    key_family_dob: str
    key_names: str
    key_place: str | None
    key_given_dob: str

    def as_dict(self) -> dict[str, str | None]:
        return {
            "key_family_dob": self.key_family_dob,
            "key_names": self.key_names,
            "key_place": self.key_place,
            "key_given_dob": self.key_given_dob,
        }


def _parts(name: str) -> list[str]:
    return normalise_name(name).split() or [""]


@lru_cache(maxsize=65_536)
def _family_codes(family: str) -> tuple[str, str]:
    """Phonetic codes of a family name's first and last parts."""
    parts = _parts(family)
    return phonetic(parts[0]), phonetic(parts[-1])


def roll_key_values(
    given: str, family: str, born_iso: str, postcode: str | None
) -> tuple[str, str, str | None, str]:
    """The keys stored with one roll row, in :data:`KEY_COLUMNS` order (the import's
    fast path: the date of birth as ISO text, no object per row)."""
    first, last = _family_codes(family)
    given_code = canonical_given(given)
    return (
        f"{last}|{born_iso}",
        f"{given_code}|{first}",
        f"{postcode}|{born_iso[:4]}" if postcode else None,
        f"{given_code}|{born_iso}",
    )


def roll_keys(given: str, family: str, born: date, postcode: str | None) -> BlockingKeys:
    """The keys stored with one roll row."""
    return BlockingKeys(*roll_key_values(given, family, born.isoformat(), postcode))


def _swapped_day_month(born: date) -> date | None:
    if born.day > 12 or born.day == born.month:
        return None
    return date(born.year, born.day, born.month)


@lru_cache(maxsize=65_536)
def _misspelt_codes(word: str) -> frozenset[str]:
    """Phonetic codes of ``word`` with one letter dropped or two neighbours swapped: a
    police record's extra letter or transposition (Hraris, Harriss for Harris) then
    still meets the roll's key. Extra values in an IN list cost an index probe each."""
    if len(word) < 4:
        return frozenset()
    variants = {word[:i] + word[i + 1 :] for i in range(len(word))}
    variants |= {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}
    return frozenset(phonetic(v) for v in variants) - {phonetic(word)}


def _years(year: int) -> list[int]:
    """The year of birth and the years one mistyped digit makes of it (2015: 2010-2019,
    2005, 2025): at one address a wrong year still meets the roll's place key."""
    decade = year - year % 10
    return [decade + d for d in range(10)] + [year - 10, year + 10]


def probe_keys(given: str, family: str, born: date, postcode: str | None) -> dict[str, set[str]]:
    """Values of each key column that a police record's candidates may hold."""
    dobs = [born] + [d for d in (_swapped_day_month(born),) if d is not None]
    families = _parts(family)
    probes: dict[str, set[str]] = {column: set() for column in KEY_COLUMNS}
    for part in [*families, _parts(given)[-1]]:  # the given name: the names were swapped
        for d in dobs:
            probes["key_family_dob"].add(f"{phonetic(part)}|{d.isoformat()}")
    for code in _misspelt_codes(families[-1]):
        probes["key_family_dob"].add(f"{code}|{born.isoformat()}")
    for part in families:
        probes["key_names"].add(f"{canonical_given(given)}|{phonetic(part)}")
    probes["key_names"].add(f"{canonical_given(family)}|{phonetic(_parts(given)[0])}")
    if postcode:
        for year in _years(born.year):
            probes["key_place"].add(f"{postcode}|{year}")
    for name in (given, family):  # the family name: the names were swapped
        probes["key_given_dob"].add(f"{canonical_given(name)}|{born.isoformat()}")
    return probes


def _initials(given: str, family: str) -> str | None:
    first, last = normalise_name(given)[:1], normalise_name(family)[:1]
    return f"{first}{last}" if first and last else None


def initials_key(given: str, family: str, born_iso: str) -> str | None:
    """``key_initials_dob`` of a roll row: "re|2021-01-11" for Riley Evans born that
    day (None when a name has no letter). At 1,000,000 roll rows a record's probes
    retrieve about 3 rows (the bench's, mean; p99 10)."""
    initials = _initials(given, family)
    return f"{initials}|{born_iso}" if initials else None


def roll_only_keys(
    given: str, family: str, born_iso: str, address: str | None
) -> tuple[str | None, str | None]:
    """A roll row's keys of :data:`ROLL_ONLY_COLUMNS`: :func:`address_key` and
    :func:`initials_key` (stored at import, held by ``relay link``'s index)."""
    return address_key(address), initials_key(given, family, born_iso)


def roll_probe_keys(
    given: str, family: str, born: date, postcode: str | None
) -> dict[str, set[str]]:
    """:func:`probe_keys` and the values of ``key_initials_dob`` a police record's
    candidates may hold (given and family names swapped, day and month swapped):
    every column of :data:`ROLL_KEY_COLUMNS`."""
    probes = probe_keys(given, family, born, postcode)
    pairs = [(given, family, born), (family, given, born)]
    swapped = _swapped_day_month(born)
    if swapped is not None:
        pairs.append((given, family, swapped))
    probes["key_initials_dob"] = {
        key for g, f, d in pairs if (key := initials_key(g, f, d.isoformat())) is not None
    }
    return probes


@lru_cache(maxsize=65_536)
def address_key(address: str | None) -> str | None:
    """``key_address`` of an address: its first number followed by a word in the same
    comma-separated part (the house: "12", "12a"; not "Flat 2,"), the sound of that word
    (the street's first) and the first letter of the last part (the town): "12|XRX|l"
    for "12 Church Street, Leeds"; None without a number and a word after it.

    A roll row and a police record meet here when the record's postcode is missing and
    its names are mangled past the other keys (Jone5 for Jones and Ily for Lily): on the
    independent generator (issue 22), about two in three of the children no other key
    found. The same house number, street and town is the child's household, so a row
    this key alone finds is compared only when :func:`names_row_fits`. The record's key
    is probed as it is: a mistyped house number or street's first sound loses it."""
    if not address:
        return None
    parts = [p.split() for p in address.casefold().split(",") if p.strip()]
    for at, words in enumerate(parts):
        for i, word in enumerate(words[:-1]):
            street = words[i + 1]
            if any(c.isdigit() for c in word) and street.isalpha():
                town = normalise_name(" ".join(parts[-1])) if at < len(parts) - 1 else ""
                number = "".join(c for c in word if c.isalnum())[:8]
                return f"{number}|{phonetic(street)[:10]}|{town[:1]}"
    return None


def names_row_fits(
    born: date, postcode: str | None, row_born: date, row_postcode: str | None
) -> bool:
    """Whether a roll row that only ``key_names`` found (the names agree, the date of
    birth may not) can be the child: its date of birth shares the year, month or day
    with the police record's, or its postcode is the record's.

    Every date the matcher can auto-match on (exact, day and month swapped, one digit
    wrong, two neighbouring digits transposed, two of day, month and year the same:
    comparisons.compare_dob) shares at least one of the three; a date that shares none
    is ``disagree``, never a match (matching._NOT_FOR_MATCH), about -7.5 bits. What the
    rule gives up is a review of a namesake born on another day of another year at
    another postcode: rare, and when both names are rare enough to outweigh the date
    (one clean record in 2,000 at 1,000,000 rows with the model of 2026-12-04: its
    35 namesakes of other ages scored 9.1 bits, the review threshold 9.0) a review nobody
    wants. The repository's query applies the same rule (repository._names_fit)."""
    return (
        born.year == row_born.year
        or born.month == row_born.month
        or born.day == row_born.day
        or (postcode is not None and postcode == row_postcode)
    )
