"""How the console names a child outside the child's own record (DESIGN §8): the
stream, episode, alert, RHI and review pages show initials and year of birth only; the
full name and date of birth appear on the child's timeline, whose every view is
audited."""

from __future__ import annotations

from datetime import date


def initials(given_name: str, family_name: str) -> str:
    """``"Mary-Jane", "O'Neil"`` -> ``"M.O."``: the first letter of each name, upper case.

    Only the first letter of each of the two names, never more: a second initial of a
    hyphenated or double name narrows down who the child is.
    """
    return "".join(f"{_first_letter(name)}." for name in (given_name, family_name))


def birth_year(date_of_birth: date) -> int:
    return date_of_birth.year


def describe(initials_: str | None, year: int | None) -> str:
    """How a child is named on a page: ``"M.O. (born 2011)"``."""
    if not initials_:
        return "child not yet known"
    return f"{initials_} (born {year})" if year else initials_


def _first_letter(name: str) -> str:
    for char in name:
        if char.isalpha():
            return char.upper()
    return "?"
