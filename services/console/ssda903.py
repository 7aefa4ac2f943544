"""The DfE SSDA903 "Missing" table of a local authority's looked-after children (issue 21;
pure, no I/O): one row per missing episode, columns ``CHILD``, ``DOB``, ``MISSING``,
``MIS_START``, ``MIS_END``, dates ``dd/mm/yyyy``.

``CHILD`` is the child's record id in the authority's own roll (its looked-after
children, imported as its roll): the record the router matched the child to, or the one
a person chose in identity review. A child with no such record, or with two, is listed
for a person to resolve and never guessed.

The DfE's validation rules for the table (as the DfE publishes them, and as the
children's services validator implements them), and how each is kept:

- 565/566: ``MISSING`` is completed on every row: ``M`` (the police report a child
  missing; ``A``, away from placement without authorisation, is the placement's call).
- 1004/1005: ``MIS_START`` is a valid date on every row; ``MIS_END`` valid or empty.
- 567: an episode does not end before it starts: one whose police events say so is not
  written, and is listed.
- 570: nothing starts after the end of the period: such episodes belong to the next return.
- 571: ``MIS_END`` lies within the period: an episode that ended before the period
  belongs to an earlier return; one still open at the period's end (or ending after it)
  has an empty ``MIS_END``.
- 576: an episode open at the start of the period is recorded again with its own start
  date (earlier than the period), so it matches last year's open row.
- 574: a child's episodes do not overlap, and a new one does not start while another is
  open: such pairs are written as the police recorded them and listed, for the authority
  to correct against its own records (an end date is never invented).
- Two police episodes giving the same row (the same child, start and end) are one row.

Rules that need the return's other tables (575, 577, 578, 580, 581: the care episodes'
dates) are for the authority's own system to check when it assembles the return.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import pairwise
from typing import TextIO

from services.console.days import LONDON
from services.console.privacy import describe

COLUMNS = ("CHILD", "DOB", "MISSING", "MIS_START", "MIS_END")
MISSING = "M"


@dataclass(frozen=True)
class MissingEpisode:
    """A looked-after child's episode as the console knows it."""

    episode_key: str
    force_code: str
    episode_ref: str
    initials: str | None
    birth_year: int | None
    date_of_birth: date | None  # as the police gave it
    started_at: datetime
    ended_at: datetime | None  # found or returned (else closed); None while missing
    roll_records: frozenset[str] = frozenset()

    def describe(self) -> str:
        """How stderr names it: the police reference and initials, never the name."""
        return (
            f"{self.force_code}/{self.episode_ref} "
            f"({describe(self.initials, self.birth_year)}), missing from "
            f"{_day(self.started_at):%d/%m/%Y}"
        )


@dataclass(frozen=True)
class MissingRow:
    child: str
    dob: date
    start: date
    end: date | None

    def cells(self) -> list[str]:
        return [
            self.child,
            f"{self.dob:%d/%m/%Y}",
            MISSING,
            f"{self.start:%d/%m/%Y}",
            f"{self.end:%d/%m/%Y}" if self.end else "",
        ]


@dataclass
class MissingTable:
    rows: list[MissingRow] = field(default_factory=list)
    # Episodes not written, for a person: no record of the child at the authority,
    # more than one, or dates the DfE's rules refuse.
    no_record: list[MissingEpisode] = field(default_factory=list)
    several_records: list[MissingEpisode] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    # Written, but the DfE's validation will flag them (rule 574).
    warnings: list[str] = field(default_factory=list)

    def write(self, out: TextIO) -> None:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for row in self.rows:
            writer.writerow(row.cells())


def _day(moment: datetime) -> date:
    return moment.astimezone(LONDON).date()


def missing_table(
    episodes: Iterable[MissingEpisode],
    since: date,
    until: date,
    roll: Mapping[str, date | None],
) -> MissingTable:
    """The rows for the period ``since`` to ``until`` (whole days). ``roll`` maps the
    authority's record ids to the date of birth on its record (None: not known), which
    is the one the return's other tables carry; the police's date of birth stands in
    only when the record has none."""
    table = MissingTable()
    seen: set[MissingRow] = set()
    for episode in sorted(episodes, key=lambda e: (e.started_at, e.episode_key)):
        start = _day(episode.started_at)
        end = _day(episode.ended_at) if episode.ended_at else None
        if start > until or (end is not None and end < since):
            continue  # rules 570 and 571: another period's
        if end is not None and end < start:
            table.refused.append(
                f"{episode.describe()}: ends {end:%d/%m/%Y}, before it starts (DfE rule "
                "567); check the police events; not written"
            )
            continue
        known = sorted(r for r in episode.roll_records if r in roll)
        if not known:
            table.no_record.append(episode)
            continue
        if len(known) > 1:
            table.several_records.append(episode)
            continue
        dob = roll[known[0]] or episode.date_of_birth
        if dob is None:
            table.refused.append(f"{episode.describe()}: no date of birth; not written")
            continue
        row = MissingRow(known[0], dob, start, end if end is not None and end <= until else None)
        if row in seen:
            continue
        seen.add(row)
        table.rows.append(row)
    table.rows.sort(key=lambda r: (r.child, r.start, r.end or date.max))
    table.warnings = _overlaps(table.rows)
    return table


def _overlaps(rows: list[MissingRow]) -> list[str]:
    """DfE rule 574, per child in start order."""
    out: list[str] = []
    for before, after in pairwise(rows):
        if before.child != after.child:
            continue
        if before.end is None:
            out.append(
                f"CHILD {after.child}: the episode from {after.start:%d/%m/%Y} starts while the "
                f"one from {before.start:%d/%m/%Y} is still open (DfE rule 574)"
            )
        elif after.start < before.end:
            out.append(
                f"CHILD {after.child}: the episode from {after.start:%d/%m/%Y} overlaps the one "
                f"from {before.start:%d/%m/%Y} to {before.end:%d/%m/%Y} (DfE rule 574)"
            )
    return out
