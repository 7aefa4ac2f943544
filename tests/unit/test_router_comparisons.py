"""Field comparison levels: each level of each field, on normalised values."""

from __future__ import annotations

from datetime import date

import pytest

from services.router.comparisons import (
    compare_address,
    compare_dob,
    compare_family,
    compare_given,
    compare_identifier,
    compare_postcode,
    compare_sex,
)


@pytest.mark.parametrize(
    ("ours", "theirs", "level"),
    [
        ("zoe", "zoe", "exact"),
        ("mary ann", "mary", "exact"),
        ("bill", "william", "nickname"),
        ("liam", "william", "nickname"),
        ("harry", "henry", "shared_nickname"),
        ("katharine", "katherine", "jw"),
        ("isbac", "isaac", "edit"),
        ("sofia", "sophia", "phonetic"),
        ("ann", "a", "initial"),
        ("b", "ann", "disagree"),
        ("rose mary", "lily rose", "other_name"),
        ("sophie", "wendy", "disagree"),
        ("", "zoe", "missing"),
    ],
)
def test_given_name_levels(ours: str, theirs: str, level: str) -> None:
    assert compare_given(ours, theirs) == level


@pytest.mark.parametrize(
    ("ours", "theirs", "level"),
    [
        ("obrien", "obrien", "exact"),
        ("smith jones", "smithjones", "exact"),
        ("jones", "smith jones", "part"),
        ("smith", "smith jones", "part"),
        ("smyth jones", "smith jones", "jw"),
        ("hraris", "harris", "jw"),
        ("wood", "white", "disagree"),
        ("kowalski", "nowak", "disagree"),
        ("lee", "", "missing"),
    ],
)
def test_family_name_levels(ours: str, theirs: str, level: str) -> None:
    assert compare_family(ours, theirs) == level


@pytest.mark.parametrize(
    ("ours", "theirs", "level"),
    [
        (date(2012, 5, 3), date(2012, 5, 3), "exact"),
        (date(2012, 3, 5), date(2012, 5, 3), "day_month_swap"),
        (date(2012, 5, 8), date(2012, 5, 3), "typo"),
        (date(2021, 5, 3), date(2012, 5, 3), "typo"),  # neighbouring digits transposed
        (date(2012, 5, 27), date(2012, 5, 3), "component"),
        (date(2012, 9, 21), date(2012, 5, 3), "year"),
        (date(2010, 9, 21), date(2012, 5, 3), "disagree"),
        (None, date(2012, 5, 3), "missing"),
    ],
)
def test_date_of_birth_levels(ours: date | None, theirs: date, level: str) -> None:
    assert compare_dob(ours, theirs) == level


@pytest.mark.parametrize(
    ("ours", "theirs", "level"),
    [
        ("NE61 1AA", "NE61 1AA", "unit"),
        ("NE61 1AB", "NE61 1AA", "sector"),
        ("NE61 2AA", "NE61 1AA", "district"),
        ("NE1 2AA", "NE61 1AA", "area"),
        ("TD15 1AA", "NE61 1AA", "disagree"),
        (None, "NE61 1AA", "missing"),
    ],
)
def test_postcode_levels(ours: str | None, theirs: str, level: str) -> None:
    assert compare_postcode(ours, theirs) == level


def test_address_levels() -> None:
    assert compare_address("12 High Street, Morpeth", "12 high street") == "same"
    assert compare_address("14 High Street", "12 High Street") == "similar"
    assert compare_address("3 Mill Lane", "12 High Street") == "disagree"
    assert compare_address(None, "12 High Street") == "missing"


def test_sex_and_identifier_levels() -> None:
    assert compare_sex("F", "female") == "agree"
    assert compare_sex("male", "female") == "disagree"
    assert compare_sex("unknown", "female") == "missing"
    assert compare_identifier("9434765919", "9434765919") == "agree"
    assert compare_identifier("9434765919", "4010232137") == "disagree"
    assert compare_identifier(None, "9434765919") == "missing"
