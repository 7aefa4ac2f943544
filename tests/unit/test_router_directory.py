"""Directory rows: parsing and validation of organisations and roll rows."""

from __future__ import annotations

import random
from datetime import date

import pytest

from schemas.identifiers import nhs_number_check_digit, validate_nhs_number
from services.router.directory import (
    ORGANISATION_OPTIONAL,
    ORGANISATION_REQUIRED,
    ROLL_COLUMNS,
    ColumnsError,
    column_index,
    parse_date,
    parse_organisation,
)
from services.router.names import normalise_name
from services.router.roll_parser import RollParser, _nhs_number

ROLL_HEADER = list(ROLL_COLUMNS)
KNOWN = {"100001", "A81001"}


def roll_row(**changes: str) -> list[str]:
    values = {
        "org_code": "100001",
        "record_id": "R1",
        "given_name": "Zoë",
        "family_name": "O'Brien-Smith",
        "date_of_birth": "2012-05-31",
        "sex": "F",
        "nhs_number": "9434765919",
        "upn": "B801200005001",
        "postcode": "ne61 1aa",
        "address": "1 High St",
        "from": "2020-09-01",
        "to": "",
    }
    values.update(changes)
    return [values[c] for c in ROLL_HEADER]


def parse(**changes: str):  # type: ignore[no-untyped-def]
    return RollParser(ROLL_HEADER, KNOWN).parse(roll_row(**changes), 7)


def test_a_good_row_becomes_normalised_columns() -> None:
    parsed = parse()
    assert parsed.issues == []
    assert parsed.values == {
        "org_code": "100001",
        "record_id": "R1",
        "given_name": "Zoë",
        "family_name": "O'Brien-Smith",
        "date_of_birth": date(2012, 5, 31),
        "sex": "F",
        "nhs_number": "9434765919",
        "upn": "B801200005001",
        "postcode": "NE61 1AA",
        "address": "1 High St",
        "valid_from": date(2020, 9, 1),
        "valid_to": None,
        "norm_given": "zoe",
        "norm_family": "obrien smith",
        # blocking keys: last part of the family name + DOB, given + first part, place
        "key_family_dob": "SM0|2012-05-31",
        "key_names": "zoe|OBRN",
        "key_place": "NE61 1AA|2012",
        "key_given_dob": "zoe|2012-05-31",
        # house number, street sound, town initial (none: "1 High St" has no town)
        "key_address": "1|H|",
        "key_initials_dob": "zo|2012-05-31",
    }


@pytest.mark.parametrize("column", ["date_of_birth", "from", "to"])
def test_a_bad_date_skips_the_row_naming_line_and_column(column: str) -> None:
    parsed = parse(**{column: "31/02/2012"})
    assert parsed.values is None
    [issue] = parsed.issues
    assert (issue.line, issue.column, issue.skipped) == (7, column, True)


def test_uk_dates_are_read_day_first() -> None:
    assert parse_date("01/02/2012") == date(2012, 2, 1)
    with pytest.raises(ValueError):
        parse_date("20120201")


@pytest.mark.parametrize(
    ("column", "bad"), [("nhs_number", "9434765918"), ("upn", "A801200005001"), ("postcode", "XYZ")]
)
def test_a_bad_identifier_keeps_the_row_without_it(column: str, bad: str) -> None:
    parsed = parse(**{column: bad})
    assert parsed.values is not None
    assert parsed.values[column] is None
    [issue] = parsed.issues
    assert (issue.line, issue.column, issue.skipped) == (7, column, False)
    assert "line 7: " in str(issue) and "kept without it" in str(issue)


def test_unknown_organisation_skips_the_row() -> None:
    parsed = parse(org_code="999999")
    assert parsed.values is None
    assert parsed.issues[0].column == "org_code"
    assert "unknown organisation 999999" in parsed.issues[0].message


def test_a_nul_character_skips_the_row() -> None:
    parsed = parse(address="1 High\x00St")
    assert parsed.values is None and parsed.issues[0].message == "contains a NUL character"


def test_from_after_to_skips_the_row() -> None:
    assert parse(**{"from": "2021-01-01", "to": "2020-01-01"}).values is None


def test_a_short_row_means_empty_optional_cells() -> None:
    parsed = RollParser(ROLL_HEADER, KNOWN).parse(["100001", "R1", "Amy", "Smith", "2012-01-01"], 2)
    assert parsed.values is not None and parsed.values["nhs_number"] is None


def test_missing_required_columns_are_named() -> None:
    with pytest.raises(ColumnsError, match="given_name, date_of_birth"):
        RollParser(["org_code", "record_id", "family_name"], KNOWN)


def test_the_fast_nhs_check_agrees_with_the_schema_validator() -> None:
    rng = random.Random(5)
    for _ in range(2000):
        nine = f"{rng.randrange(10**8, 10**9)}"
        for last in "0123456789":
            value = nine + last
            try:
                expected: str | None = validate_nhs_number(value)
            except ValueError:
                expected = None
            try:
                got: str | None = _nhs_number(value)
            except ValueError:
                got = None
            assert got == expected, value
    assert nhs_number_check_digit("943476591") == 9


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("  Zoë  ", "zoe"),
        ("O'Brien", "obrien"),
        ("O\u2019Brien", "obrien"),
        ("Smith-Jones", "smith jones"),
        ("SMITH   JONES", "smith jones"),
        ("Strauß", "strauss"),
        ("Seán", "sean"),
    ],
)
def test_names_normalise(raw: str, normal: str) -> None:
    assert normalise_name(raw) == normal


ORG_INDEX = column_index(
    ["code", "kind", "name", "email", "escalation_email", "la_code"],
    ORGANISATION_REQUIRED,
    ORGANISATION_OPTIONAL,
)


@pytest.mark.parametrize(
    ("code", "kind", "ok"),
    [
        ("100001", "school", True),
        ("10001", "school", False),
        ("A81001", "gp-practice", True),
        ("81001", "gp-practice", False),
        ("E06000057", "local-authority", True),
        ("X06000057", "local-authority", False),
        ("YOT-NLD", "yot", True),
        ("MSET-NLD", "mset-panel", True),
        ("100001", "academy", False),
    ],
)
def test_organisation_codes_are_checked_by_kind(code: str, kind: str, ok: bool) -> None:
    parsed = parse_organisation([code, kind, "Name", "a@b.example", "", ""], ORG_INDEX, 3)
    assert (parsed.values is not None) is ok
    if not ok:
        assert parsed.issues[0].line == 3 and parsed.issues[0].skipped


def test_a_local_authority_is_its_own_authority() -> None:
    parsed = parse_organisation(
        ["e06000057", "local-authority", "Northumberland", "mc@n.example", "", ""], ORG_INDEX, 2
    )
    assert parsed.values is not None
    assert parsed.values["la_code"] == "E06000057"


def test_an_organisation_needs_an_email() -> None:
    parsed = parse_organisation(["100001", "school", "S", "not-an-email", "", ""], ORG_INDEX, 2)
    assert parsed.values is None and parsed.issues[0].column == "email"


def test_a_local_authority_may_give_its_out_of_hours_team() -> None:
    index = column_index(
        ["code", "kind", "name", "email", "out_of_hours_email"],
        ORGANISATION_REQUIRED,
        ORGANISATION_OPTIONAL,
    )
    la = parse_organisation(
        ["E06000057", "local-authority", "Council", "mc@n.example", "edt@n.example"], index, 2
    )
    assert la.values is not None and la.values["out_of_hours_email"] == "edt@n.example"
    assert la.issues == []
    bad = parse_organisation(
        ["E06000057", "local-authority", "Council", "mc@n.example", "edt at n"], index, 3
    )
    assert bad.values is None and bad.issues[0].column == "out_of_hours_email"
    # Only an authority's team is ever told: elsewhere the value is dropped, and said so.
    school = parse_organisation(["100001", "school", "S", "dsl@s.example", "x@s.example"], index, 4)
    assert school.values is not None and school.values["out_of_hours_email"] is None
    [issue] = school.issues
    assert (issue.line, issue.column, issue.skipped) == (4, "out_of_hours_email", False)
    # The column is optional: an older file has none.
    assert parse_organisation(
        ["100001", "school", "S", "dsl@s.example", "", ""], ORG_INDEX, 5
    ).values == {
        "code": "100001",
        "kind": "school",
        "name": "S",
        "email": "dsl@s.example",
        "escalation_email": None,
        "phone": None,
        "la_code": None,
        "out_of_hours_email": None,
    }
