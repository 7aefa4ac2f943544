"""The directory's file formats (DESIGN §5): parsing and validating one CSV row of an
organisations or roll file (pure; the importer streams files and writes the rows).

A row either becomes a plain dict ready for insertion, or is skipped; either way every
problem is reported as a :class:`RowIssue` naming the line and column. A roll row is
parsed by services/router/roll_parser.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from schemas.identifiers import (
    validate_force_code,
    validate_gss_code,
)
from schemas.messages import OrgKind

ORGANISATION_REQUIRED = ("code", "kind", "name", "email")
ORGANISATION_OPTIONAL = ("escalation_email", "phone", "la_code", "out_of_hours_email")
ROLL_REQUIRED = ("org_code", "record_id", "given_name", "family_name", "date_of_birth")
ROLL_OPTIONAL = ("sex", "nhs_number", "upn", "postcode", "address", "from", "to")
ROLL_COLUMNS = ROLL_REQUIRED + ROLL_OPTIONAL

_URN = re.compile(r"^[0-9]{6}$")
_ODS = re.compile(r"^[A-Z][0-9]{5}$")
_LOCAL_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,19}$")
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_UK_DATE = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})$")


class FileRefusedError(ValueError):
    """An import refused as a whole, nothing changed; the message says why."""


class ColumnsError(FileRefusedError):
    """A file lacks required columns: refused before anything changes."""


@dataclass(frozen=True)
class RowIssue:
    line: int
    column: str
    message: str
    skipped: bool  # True: the row was not imported; False: imported without this value

    def __str__(self) -> str:
        what = "skipped" if self.skipped else "kept without it"
        return f"line {self.line}: {self.column}: {self.message} ({what})"


@dataclass
class ParsedRow:
    values: dict[str, Any] | None
    issues: list[RowIssue] = field(default_factory=list)


@dataclass(frozen=True)
class Organisation:
    code: str
    kind: OrgKind
    name: str
    email: str
    escalation_email: str | None = None
    phone: str | None = None
    la_code: str | None = None
    # A local authority's out-of-hours (emergency duty) team: told at once of an urgent
    # episode outside the authority's working hours.
    out_of_hours_email: str | None = None


@dataclass(frozen=True)
class RollRecord:
    """One child on one organisation's roll, as matching sees it."""

    org_code: str
    record_id: str
    given_name: str
    family_name: str
    date_of_birth: date
    norm_given: str
    norm_family: str
    nhs_number: str | None = None
    upn: str | None = None
    postcode: str | None = None
    address: str | None = None
    sex: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None

    def on_roll(self, on: date) -> bool:
        return (self.valid_from is None or self.valid_from <= on) and (
            self.valid_to is None or on <= self.valid_to
        )


def column_index(
    header: Sequence[str], required: Sequence[str], optional: Sequence[str]
) -> dict[str, int]:
    """Map column name to position; raise :class:`ColumnsError` naming missing columns."""
    names = [h.strip().lower() for h in header]
    missing = [c for c in required if c not in names]
    if missing:
        raise ColumnsError(
            f"missing required column(s): {', '.join(missing)} "
            f"(the file has: {', '.join(n for n in names if n) or 'no header'})"
        )
    return {n: i for i, n in enumerate(names) if n in (*required, *optional)}


def parse_date(value: str) -> date:
    """ISO ``2012-05-31`` or UK ``31/05/2012``."""
    value = value.strip()
    if "/" in value:
        uk = _UK_DATE.match(value)
        if uk:
            return date(int(uk.group(3)), int(uk.group(2)), int(uk.group(1)))
    if len(value) != 10:  # fromisoformat also takes 20120531, which no roll means
        raise ValueError(value)
    return date.fromisoformat(value)


def _cell(row: Sequence[str], index: dict[str, int], name: str) -> str:
    i = index.get(name)
    if i is None:
        return ""
    try:
        return row[i].strip()
    except IndexError:  # a short row: the trailing optional cells are empty
        return ""


def organisation_code_problem(kind: OrgKind, code: str) -> str | None:
    if kind is OrgKind.SCHOOL and not _URN.match(code):
        return "a school code is its 6-digit URN"
    if kind is OrgKind.GP_PRACTICE and not _ODS.match(code):
        return "a GP practice code is its ODS code: a letter and 5 digits, e.g. A81001"
    if kind is OrgKind.LOCAL_AUTHORITY:
        try:
            validate_gss_code(code)
        except ValueError as exc:
            return str(exc)
    if kind is OrgKind.POLICE_FORCE:
        try:
            validate_force_code(code)
        except ValueError as exc:
            return f"a police force's code is its force code: {exc}"
    if not _LOCAL_CODE.match(code):
        return "a code has 1-20 letters, digits, '-' or '_'"
    return None


def parse_organisation(row: Sequence[str], index: dict[str, int], line: int) -> ParsedRow:
    def skip(column: str, message: str) -> ParsedRow:
        return ParsedRow(None, [RowIssue(line, column, message, skipped=True)])

    raw_kind = _cell(row, index, "kind").lower()
    try:
        kind = OrgKind(raw_kind)
    except ValueError:
        return skip("kind", f"{raw_kind!r} is not one of {', '.join(k.value for k in OrgKind)}")
    code = _cell(row, index, "code").upper()
    if not code:
        return skip("code", "empty")
    problem = organisation_code_problem(kind, code)
    if problem:
        return skip("code", problem)
    name = _cell(row, index, "name")
    if not name or len(name) > 200:
        return skip("name", "empty" if not name else "longer than 200 characters")
    email = _cell(row, index, "email")
    if not _EMAIL.match(email):
        return skip("email", "not an email address")
    escalation = _cell(row, index, "escalation_email") or None
    if escalation and not _EMAIL.match(escalation):
        return skip("escalation_email", "not an email address")
    la_code = _cell(row, index, "la_code").upper() or None
    if la_code:
        try:
            la_code = validate_gss_code(la_code)
        except ValueError as exc:
            return skip("la_code", str(exc))
    if kind is OrgKind.LOCAL_AUTHORITY:
        la_code = la_code or code
    phone = _cell(row, index, "phone")[:40] or None
    issues: list[RowIssue] = []
    out_of_hours = _cell(row, index, "out_of_hours_email") or None
    if out_of_hours and not _EMAIL.match(out_of_hours):
        return skip("out_of_hours_email", "not an email address")
    if out_of_hours and kind is not OrgKind.LOCAL_AUTHORITY:
        # Only an authority's out-of-hours team is ever told; kept elsewhere it would
        # look as if it were used.
        issues.append(
            RowIssue(line, "out_of_hours_email", "only local authorities have one", skipped=False)
        )
        out_of_hours = None
    return ParsedRow(
        {
            "code": code,
            "kind": kind.value,
            "name": name,
            "email": email,
            "escalation_email": escalation,
            "phone": phone,
            "la_code": la_code,
            "out_of_hours_email": out_of_hours,
        },
        issues,
    )
