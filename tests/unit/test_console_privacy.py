"""The initials rule: what the console shows of a child before login exists."""

from __future__ import annotations

from datetime import date

import pytest

from services.console.privacy import birth_year, describe, initials


@pytest.mark.parametrize(
    ("given", "family", "expected"),
    [
        ("Jordan", "Smith", "J.S."),
        ("mary-jane", "o'neil", "M.O."),
        ("Zoë", "Ørsted", "Z.Ø."),
        ("  amy", "  de la Cruz", "A.D."),
        ("'Bo", "-Li", "B.L."),
        ("123", "Smith", "?.S."),
    ],
)
def test_initials_are_the_first_letter_of_each_name(given: str, family: str, expected: str) -> None:
    assert initials(given, family) == expected


def test_initials_never_contain_more_of_the_name() -> None:
    shown = initials("Alexandra", "Montgomery-Smythe")
    assert "lex" not in shown.lower() and "ont" not in shown.lower()
    assert len(shown) == 4


def test_a_child_is_described_by_initials_and_year_of_birth_only() -> None:
    assert birth_year(date(2011, 3, 14)) == 2011
    assert describe("J.S.", 2011) == "J.S. (born 2011)"
    assert describe(None, None) == "child not yet known"
