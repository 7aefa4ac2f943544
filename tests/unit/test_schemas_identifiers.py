"""Identifier rules (DOMAIN.md): NHS number, UPN, postcode, GSS code, force code."""

from __future__ import annotations

import pytest

from schemas.identifiers import (
    nhs_number_check_digit,
    normalise_postcode,
    upn_check_letter,
    validate_force_code,
    validate_gss_code,
    validate_nhs_number,
    validate_upn,
)


def test_nhs_number_valid_with_spaces_and_dashes() -> None:
    assert validate_nhs_number("9434765919") == "9434765919"
    assert validate_nhs_number("943 476 5919") == "9434765919"
    assert validate_nhs_number("943-476-5919") == "9434765919"


@pytest.mark.parametrize("bad", ["9434765918", "943476591", "94347659190", "94347659A9", ""])
def test_nhs_number_invalid(bad: str) -> None:
    with pytest.raises(ValueError):
        validate_nhs_number(bad)


def test_nhs_number_check_digit_rules() -> None:
    assert nhs_number_check_digit("943476591") == 9
    assert nhs_number_check_digit("000000011") == 6  # 1*3 + 1*2 = 5; 11 - 5 = 6
    assert nhs_number_check_digit("000000000") == 0  # remainder 0: 11 maps to 0
    assert validate_nhs_number("0000000000") == "0000000000"


def test_nhs_number_whose_check_would_be_10_is_never_valid() -> None:
    impossible = "000000006"  # 6*2 = 12; 12 % 11 = 1; 11 - 1 = 10
    assert nhs_number_check_digit(impossible) is None
    for last in "0123456789":
        with pytest.raises(ValueError, match="check digit"):
            validate_nhs_number(impossible + last)


def test_upn_valid_and_check_letter() -> None:
    assert upn_check_letter("801200005001") == "B"
    assert validate_upn("B801200005001") == "B801200005001"
    assert validate_upn(" b801200005001 ") == "B801200005001"


def test_temporary_upn_ending_in_a_letter() -> None:
    body = "80120000500A"
    upn = upn_check_letter(body) + body
    assert validate_upn(upn) == upn
    wrong = ("A" if upn[0] != "A" else "B") + body
    with pytest.raises(ValueError, match="check letter"):
        validate_upn(wrong)


@pytest.mark.parametrize(
    "bad", ["A801200005001", "B80120000500", "I801200005001", "B8012000050011", "B80120000500I"]
)
def test_upn_invalid(bad: str) -> None:
    with pytest.raises(ValueError):
        validate_upn(bad)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("ne611aa", "NE61 1AA"),
        ("NE61  1AA", "NE61 1AA"),
        (" ne1 4xf ", "NE1 4XF"),
        ("M1 1AE", "M1 1AE"),
        ("B33 8TH", "B33 8TH"),
        ("CR2 6XH", "CR2 6XH"),
        ("W1A 0AX", "W1A 0AX"),
        ("EC1A 1BB", "EC1A 1BB"),
    ],
)
def test_postcode_formats_and_normalisation(raw: str, normal: str) -> None:
    assert normalise_postcode(raw) == normal


@pytest.mark.parametrize("bad", ["NE61 1CA", "NE61 1AI", "NE61", "1NE 1AA", "NE611 1AA", ""])
def test_postcode_invalid(bad: str) -> None:
    with pytest.raises(ValueError, match="postcode"):
        normalise_postcode(bad)


def test_gss_codes() -> None:
    assert validate_gss_code("E06000057") == "E06000057"
    assert validate_gss_code(" w06000015 ") == "W06000015"
    for bad in ("S12000033", "E0600005", "E060000577", "E06O00057"):
        with pytest.raises(ValueError, match="GSS"):
            validate_gss_code(bad)


def test_force_codes() -> None:
    assert validate_force_code("10") == "10"
    assert validate_force_code(" 01 ") == "01"
    for bad in ("1", "100", "AB", ""):
        with pytest.raises(ValueError, match="force code"):
            validate_force_code(bad)
