"""The blocking rule a row found only by the names or address key must meet (issue 22):
it keeps every date of birth the matcher could auto-match on; the address key."""

from __future__ import annotations

import random
from datetime import date, timedelta

from services.router.blocking import address_key, initials_key, names_row_fits, roll_probe_keys
from services.router.comparisons import compare_dob
from services.router.matching import _NOT_FOR_MATCH

BORN = date(2013, 3, 9)


def _dates(rng: random.Random, n: int) -> list[date]:
    start = date(2000, 1, 1)
    return [start + timedelta(days=rng.randrange(20 * 366)) for _ in range(n)]


def _near(born: date) -> list[date]:
    """Dates one keystroke from ``born``: each digit changed, neighbours transposed,
    day and month swapped."""
    digits = born.strftime("%Y%m%d")
    texts = {digits[:i] + d + digits[i + 1 :] for i in range(8) for d in "0123456789"}
    texts |= {digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :] for i in range(7)}
    out = [date(born.year, born.day, born.month)] if born.day <= 12 else []
    for text in texts:
        try:
            out.append(date(int(text[:4]), int(text[4:6]), int(text[6:])))
        except ValueError:
            continue
    return out


def test_every_date_the_matcher_could_match_on_fits() -> None:
    rng = random.Random(22)
    tried = 0
    for born in _dates(rng, 300):
        for other in _near(born) + _dates(rng, 50):
            level = compare_dob(born, other)
            if level not in _NOT_FOR_MATCH:
                tried += 1
                assert names_row_fits(born, None, other, None), (born, other, level)
    assert tried > 1000


def test_a_date_sharing_no_part_fits_only_at_the_same_postcode() -> None:
    other = date(2009, 7, 21)
    assert compare_dob(BORN, other) == "disagree"
    assert not names_row_fits(BORN, None, other, None)
    assert not names_row_fits(BORN, "NE61 1AA", other, "NE61 1AB")
    assert not names_row_fits(BORN, None, other, "NE61 1AA")
    assert names_row_fits(BORN, "NE61 1AA", other, "NE61 1AA")


def test_one_shared_part_fits() -> None:
    assert names_row_fits(BORN, None, date(2013, 11, 20), None)  # the year
    assert names_row_fits(BORN, None, date(2008, 3, 30), None)  # the month
    assert names_row_fits(BORN, None, date(2010, 12, 9), None)  # the day


def test_the_address_key_is_the_house_number_street_sound_and_town_initial() -> None:
    key = address_key("63 School Lane, Wakefield")
    assert key == "63|SXL|w"
    # Case, a misspelt town past its first letter, the street's second word, spaces.
    assert address_key("63  school lne,  WAKEFELD") == key
    assert address_key("Flat 2, 12a Church St, Leeds") == "12a|XRX|l"  # not the flat
    assert address_key("12 Church Street") == "12|XRX|"  # no town
    for other in ("36 School Lane, Wakefield", "63 School Lane, Leeds", "63 Mill Lane, Wakefield"):
        assert address_key(other) != key
    for none in (None, "", "School Lane, Wakefield", "63, Wakefield", "63"):
        assert address_key(none) is None
    # At most 21 characters: the column holds 24.
    long = address_key("1234567890123 Abcdefghijklmnopqrstuvwxyz Road, Zed")
    assert long is not None and len(long) <= 24


def test_names_misspelt_or_cut_short_meet_their_row_through_their_initials() -> None:
    # Rily Ev for Riley Evans: no sound, canonical name or address key agrees (issue 22).
    stored = initials_key("Riley", "Evans", "2021-01-11")
    assert stored == "re|2021-01-11"
    assert stored in roll_probe_keys("Rily", "Ev", date(2021, 1, 11), None)["key_initials_dob"]
    # Names swapped, day and month swapped.
    assert stored in roll_probe_keys("Ev", "Rily", date(2021, 1, 11), None)["key_initials_dob"]
    assert stored in roll_probe_keys("Rily", "Ev", date(2021, 11, 1), None)["key_initials_dob"]
    # Another initial or another date is another key.
    assert stored not in roll_probe_keys("Ily", "Ev", date(2021, 1, 11), None)["key_initials_dob"]
    assert stored not in roll_probe_keys("Rily", "Ev", date(2021, 1, 12), None)["key_initials_dob"]
    assert initials_key("Zoë", "O'Brien", "2012-05-31") == "zo|2012-05-31"
    assert initials_key("-", "Evans", "2021-01-11") is None
