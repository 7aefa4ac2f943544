"""The directory's file formats (DESIGN §5): parsing and validating one CSV row of an
organisations or roll file (pure; the importer streams files and writes the rows).

A row either becomes a plain dict ready for insertion, or is skipped; either way every
problem is reported as a :class:`RowIssue` naming the line and column.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from schemas.identifiers import (
    normalise_postcode,
    validate_force_code,
    validate_gss_code,
    validate_nhs_number,
    validate_upn,
)
from schemas.messages import OrgKind
from services.router.blocking import roll_key_values
from services.router.names import normalise_name

ORGANISATION_REQUIRED = ("code", "kind", "name", "email")
ORGANISATION_OPTIONAL = ("escalation_email", "phone", "la_code", "out_of_hours_email")
ROLL_REQUIRED = ("org_code", "record_id", "given_name", "family_name", "date_of_birth")
ROLL_OPTIONAL = ("sex", "nhs_number", "upn", "postcode", "address", "from", "to")

_URN = re.compile(r"^[0-9]{6}$")
_ODS = re.compile(r"^[A-Z][0-9]{5}$")
_LOCAL_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,19}$")
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
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


def _nhs_number(value: str) -> str:
    """:func:`validate_nhs_number` with a fast path for the usual 10 plain digits."""
    if len(value) == 10 and value.isdigit():
        total = sum(map(operator.mul, map(int, value[:9]), _NHS_WEIGHTS))
        check = 11 - total % 11
        if (0 if check == 11 else check) == int(value[9]):  # 10 never equals a digit
            return value
    return validate_nhs_number(value)


_postcode = lru_cache(maxsize=65_536)(normalise_postcode)  # postcodes repeat within an area
_date = lru_cache(maxsize=65_536)(parse_date)  # a roll's pupils share a few thousand birthdays
_upper = lru_cache(maxsize=65_536)(str.upper)  # organisation codes


@lru_cache(maxsize=65_536)
def _iso_date(value: str) -> str:
    return parse_date(value).isoformat()


@lru_cache(maxsize=131_072)
def _same(value: str) -> str:
    """One object per distinct value (names, sexes): a batch of a million rows holds each
    once, and pickles each once."""
    return value


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


ROLL_COLUMNS = ROLL_REQUIRED + ROLL_OPTIONAL
# What a parsed roll row holds, in this order (also the bulk insert's column order).
ROLL_VALUE_COLUMNS = (
    "org_code",
    "record_id",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "nhs_number",
    "upn",
    "postcode",
    "address",
    "valid_from",
    "valid_to",
    "norm_given",
    "norm_family",
    "key_family_dob",
    "key_names",
    "key_place",
    "key_given_dob",
)


class RollParser:
    """Parses the rows of one roll file (its header fixes where each column is).

    A bad date or an unknown organisation skips the row; an invalid NHS number, UPN or
    postcode keeps the row without that value (and says so).
    """

    def __init__(
        self, header: Sequence[str], known_orgs: Container[str], iso_dates: bool = False
    ) -> None:
        index = column_index(header, ROLL_REQUIRED, ROLL_OPTIONAL)
        self._positions = tuple(index.get(c, -1) for c in ROLL_COLUMNS)
        self._known = known_orgs
        # Dates as ISO text (as SQLite keeps them) rather than ``date`` objects.
        self._date: Callable[[str], date | str] = _iso_date if iso_dates else _date
        # The usual row has every column of the header: one C-level fetch of its cells.
        self._width = len(header)
        self._cells = operator.itemgetter(*(i if i >= 0 else 0 for i in self._positions))
        self._absent = tuple(n for n, i in enumerate(self._positions) if i < 0)

    def _cells_of(self, row: Sequence[str], width: int) -> list[str]:
        if width < self._width:  # a short row: the trailing optional cells are empty
            return [row[i].strip() if 0 <= i < width else "" for i in self._positions]
        cells = list(map(str.strip, self._cells(row)))
        for n in self._absent:
            cells[n] = ""
        return cells

    def parse(self, row: Sequence[str], line: int) -> ParsedRow:
        """One row as a dict of :data:`ROLL_VALUE_COLUMNS`, or skipped, with its issues."""
        values, issues = self.parse_values(row, line)
        return ParsedRow(
            None if values is None else dict(zip(ROLL_VALUE_COLUMNS, values, strict=True)), issues
        )

    def parse_values(
        self, row: Sequence[str], line: int
    ) -> tuple[tuple[Any, ...] | None, list[RowIssue]]:
        """:meth:`parse` as a tuple in :data:`ROLL_VALUE_COLUMNS` order (the importer's
        fast path: millions of rows need no dicts). Repeated values (organisation codes,
        names, dates, postcodes, keys) come from caches as the same objects, which also
        makes a pickled batch smaller."""
        width = len(row)
        (
            org_code,
            record_id,
            given,
            family,
            born,
            sex,
            nhs,
            upn,
            postcode,
            address,
            valid_from,
            valid_to,
        ) = self._cells_of(row, width)
        if "\x00" in "".join(row):  # PostgreSQL text cannot hold NUL; nor should a roll
            return _skipped(line, "(row)", "contains a NUL character")
        org_code = _upper(org_code)
        if not org_code:
            return _skipped(line, "org_code", "empty")
        if org_code not in self._known:
            return _skipped(line, "org_code", f"unknown organisation {org_code} (import it first)")
        if not record_id or len(record_id) > 64:
            return _skipped(
                line, "record_id", "empty" if not record_id else "longer than 64 characters"
            )
        if not given or len(given) > 100:
            return _skipped(
                line, "given_name", "empty" if not given else "longer than 100 characters"
            )
        if not family or len(family) > 100:
            return _skipped(
                line, "family_name", "empty" if not family else "longer than 100 characters"
            )
        if not born:
            return _skipped(line, "date_of_birth", "empty")
        try:
            born_iso = _iso_date(born)
        except ValueError:
            return _skipped(line, "date_of_birth", _BAD_DATE)
        try:
            start = _iso_date(valid_from) if valid_from else None
        except ValueError:
            return _skipped(line, "from", _BAD_DATE)
        try:
            end = _iso_date(valid_to) if valid_to else None
        except ValueError:
            return _skipped(line, "to", _BAD_DATE)
        if start and end and start > end:  # ISO dates order as text
            return _skipped(line, "to", "before from")

        issues: list[RowIssue] = []
        nhs_number: str | None = None
        if nhs:
            try:
                nhs_number = _nhs_number(nhs)
            except ValueError as exc:
                issues.append(RowIssue(line, "nhs_number", str(exc), skipped=False))
        checked_upn: str | None = None
        if upn:
            try:
                checked_upn = validate_upn(upn)
            except ValueError as exc:
                issues.append(RowIssue(line, "upn", str(exc), skipped=False))
        checked_postcode: str | None = None
        if postcode:
            try:
                checked_postcode = _postcode(postcode)
            except ValueError as exc:
                issues.append(RowIssue(line, "postcode", str(exc), skipped=False))
        given, family = _same(given), _same(family)
        to_date = self._date
        values = (
            org_code,
            record_id,
            given,
            family,
            to_date(born),
            _same(sex[:20]) or None,
            nhs_number,
            checked_upn,
            checked_postcode,
            address[:300] or None,
            start and to_date(valid_from),
            end and to_date(valid_to),
            normalise_name(given),
            normalise_name(family),
            *roll_key_values(given, family, born_iso, checked_postcode),
        )
        return values, issues


_BAD_DATE = "not a date (YYYY-MM-DD or DD/MM/YYYY)"


def _skipped(line: int, column: str, message: str) -> tuple[None, list[RowIssue]]:
    return None, [RowIssue(line, column, message, skipped=True)]
