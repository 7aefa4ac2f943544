"""One roll row (DESIGN §5; pure): :class:`RollParser` checks and normalises a row of a
roll file into the values the roll table holds, fast enough for millions of rows."""

from __future__ import annotations

import operator
from collections.abc import Callable, Container, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from schemas.identifiers import normalise_postcode, validate_nhs_number, validate_upn
from services.router.blocking import roll_key_values, roll_only_keys
from services.router.directory import (
    ROLL_COLUMNS,
    ROLL_OPTIONAL,
    ROLL_REQUIRED,
    ParsedRow,
    RowIssue,
    column_index,
    parse_date,
)
from services.router.names import normalise_name

_NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


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
    "key_address",
    "key_initials_dob",
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
        try:
            org_code = self._organisation(org_code)
            _check_lengths(record_id, given, family)
            born_iso, start, end = _dates(born, valid_from, valid_to)
        except _SkippedRowError as skip:
            return _skipped(line, skip.column, skip.message)
        issues: list[RowIssue] = []
        nhs_number, checked_upn, checked_postcode = _identifiers(nhs, upn, postcode, line, issues)
        given, family = _same(given), _same(family)
        to_date = self._date
        address = address[:300]
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
            address or None,
            start and to_date(valid_from),
            end and to_date(valid_to),
            normalise_name(given),
            normalise_name(family),
            *roll_key_values(given, family, born_iso, checked_postcode),
            *roll_only_keys(given, family, born_iso, address),
        )
        return values, issues

    def _organisation(self, org_code: str) -> str:
        org_code = _upper(org_code)
        if not org_code:
            raise _SkippedRowError("org_code", "empty")
        if org_code not in self._known:
            raise _SkippedRowError("org_code", f"unknown organisation {org_code} (import it first)")
        return org_code


class _SkippedRowError(Exception):
    """A row that cannot be imported: the column and why (never raised to a caller)."""

    def __init__(self, column: str, message: str) -> None:
        self.column, self.message = column, message


def _check_lengths(record_id: str, given: str, family: str) -> None:
    if not record_id or len(record_id) > 64:
        raise _SkippedRowError(
            "record_id", "empty" if not record_id else "longer than 64 characters"
        )
    if not given or len(given) > 100:
        raise _SkippedRowError("given_name", "empty" if not given else "longer than 100 characters")
    if not family or len(family) > 100:
        raise _SkippedRowError(
            "family_name", "empty" if not family else "longer than 100 characters"
        )


def _dates(born: str, valid_from: str, valid_to: str) -> tuple[str, str | None, str | None]:
    """Date of birth, ``from`` and ``to`` as ISO text (which orders as the dates do)."""
    if not born:
        raise _SkippedRowError("date_of_birth", "empty")
    try:
        born_iso = _iso_date(born)
    except ValueError:
        raise _SkippedRowError("date_of_birth", _BAD_DATE) from None
    try:
        start = _iso_date(valid_from) if valid_from else None
    except ValueError:
        raise _SkippedRowError("from", _BAD_DATE) from None
    try:
        end = _iso_date(valid_to) if valid_to else None
    except ValueError:
        raise _SkippedRowError("to", _BAD_DATE) from None
    if start and end and start > end:
        raise _SkippedRowError("to", "before from")
    return born_iso, start, end


def _identifiers(
    nhs: str, upn: str, postcode: str, line: int, issues: list[RowIssue]
) -> tuple[str | None, str | None, str | None]:
    """The NHS number, UPN and postcode, each None (and an issue) when invalid: the
    row is kept without it."""
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
    return nhs_number, checked_upn, checked_postcode


_BAD_DATE = "not a date (YYYY-MM-DD or DD/MM/YYYY)"


def _skipped(line: int, column: str, message: str) -> tuple[None, list[RowIssue]]:
    return None, [RowIssue(line, column, message, skipped=True)]
