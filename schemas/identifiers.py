"""Identifier types with their check rules (DOMAIN.md): NHS number, UPN, postcode, codes.

Each validator is a plain function (usable outside pydantic, e.g. on roll rows) and an
``Annotated`` type for the models.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

_UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"  # A..Z without I, O, S: 23 letters, values 0..22
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][ABD-HJLNP-UW-Z]{2})$")
_GSS = re.compile(r"^[EW][0-9]{8}$")
_FORCE = re.compile(r"^[0-9]{2}$")
_UPN = re.compile(rf"[{_UPN_LETTERS}][0-9]{{11}}[0-9{_UPN_LETTERS}]")
# Each character's value in the UPN check sum: digits as themselves, letters 0..22.
_UPN_VALUES = {str(d): d for d in range(10)} | {c: i for i, c in enumerate(_UPN_LETTERS)}


def nhs_number_check_digit(first_nine: str) -> int | None:
    """The Modulus 11 check digit for nine digits, or None when no digit is possible."""
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def validate_nhs_number(value: str) -> str:
    digits = re.sub(r"[\s-]", "", value)
    if not re.fullmatch(r"[0-9]{10}", digits):
        raise ValueError("an NHS number has 10 digits")
    if nhs_number_check_digit(digits[:9]) != int(digits[9]):
        raise ValueError("the NHS number's check digit (Modulus 11) is wrong")
    return digits


def upn_check_letter(last_twelve: str) -> str:
    """The check letter for a UPN's last 12 characters (weights 2..13, modulus 23)."""
    total = sum(map(operator.mul, map(_UPN_VALUES.__getitem__, last_twelve), range(2, 14)))
    return _UPN_LETTERS[total % 23]


def validate_upn(value: str) -> str:
    upn = value.strip().upper()
    if not _UPN.fullmatch(upn):
        raise ValueError(
            "a UPN has 13 characters: a check letter, 11 digits, and a digit or letter"
        )
    if upn_check_letter(upn[1:]) != upn[0]:
        raise ValueError("the UPN's check letter is wrong")
    return upn


def normalise_postcode(value: str) -> str:
    """Upper case, single space before the inward code: 'ne611aa' -> 'NE61 1AA'."""
    compact = re.sub(r"\s+", "", value).upper()
    match = _POSTCODE.fullmatch(compact[:-3] + " " + compact[-3:]) if len(compact) >= 5 else None
    if not match:
        raise ValueError("not a UK postcode (e.g. NE61 1AA)")
    return f"{match.group(1)} {match.group(2)}"


def validate_gss_code(value: str) -> str:
    code = value.strip().upper()
    if not _GSS.fullmatch(code):
        raise ValueError("a GSS code is a letter E or W and 8 digits, e.g. E06000057")
    return code


def validate_force_code(value: str) -> str:
    code = value.strip()
    if not _FORCE.fullmatch(code):
        raise ValueError("a police force code has 2 digits, e.g. 10")
    return code


def folded(name: str) -> str:
    """A name with letters only, case and accents folded: how a name the police wrote
    loosely (a companion in ``found_with``) is looked up. Whether two records are the
    same child is the router's person index alone (services/router/identity.py)."""
    text = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in text if c.isalpha())


def _as_str(value: object) -> object:
    return str(value) if isinstance(value, int) else value


NhsNumber = Annotated[str, BeforeValidator(_as_str), AfterValidator(validate_nhs_number)]
Upn = Annotated[str, AfterValidator(validate_upn)]
Postcode = Annotated[str, AfterValidator(normalise_postcode)]
GssCode = Annotated[str, AfterValidator(validate_gss_code)]
ForceCode = Annotated[str, BeforeValidator(_as_str), AfterValidator(validate_force_code)]
