"""The SSDA903 "Missing" table (issue 21), pure: the DfE's rules for the table (565-567,
570, 571, 574, 576, 1004/1005), CHILD from the authority's own roll and never guessed."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

from services.console.ssda903 import COLUMNS, MissingEpisode, missing_table

SINCE, UNTIL = date(2025, 4, 1), date(2026, 3, 31)
ROLL = {"LAC-1": date(2011, 5, 2), "LAC-2": date(2010, 1, 9), "LAC-3": None}


def episode(
    ref: str,
    start: datetime,
    end: datetime | None,
    records: tuple[str, ...] = ("LAC-1",),
    dob: date | None = date(2011, 5, 3),
) -> MissingEpisode:
    return MissingEpisode(
        episode_key=f"10:{ref}",
        force_code="10",
        episode_ref=ref,
        initials="M.K.",
        birth_year=2011,
        date_of_birth=dob,
        started_at=start,
        ended_at=end,
        roll_records=frozenset(records),
    )


def at(y: int, m: int, d: int, h: int = 12) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


def rows_of(table_text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(table_text)))


def test_rows_dates_and_the_authority_s_own_date_of_birth() -> None:
    table = missing_table(
        [
            episode("A", at(2025, 6, 1), at(2025, 6, 2)),
            # 23:30 UTC on 30 June is 1 July in London: local dates, not UTC ones.
            episode("B", datetime(2025, 6, 30, 23, 30, tzinfo=UTC), None, ("LAC-2",)),
        ],
        SINCE,
        UNTIL,
        ROLL,
    )
    out = io.StringIO()
    table.write(out)
    assert rows_of(out.getvalue()) == [
        list(COLUMNS),
        ["LAC-1", "02/05/2011", "M", "01/06/2025", "02/06/2025"],  # the roll's DOB
        ["LAC-2", "09/01/2010", "M", "01/07/2025", ""],  # open: MIS_END empty
    ]
    assert out.getvalue().endswith("\r\n")
    assert table.no_record == [] and table.warnings == [] and table.refused == []


def test_the_period_s_rules_570_571_576() -> None:
    table = missing_table(
        [
            episode("before", at(2025, 3, 1), at(2025, 3, 3)),  # ended before: last year's
            episode("after", at(2026, 4, 2), None),  # starts after: next year's (570)
            episode("carried", at(2025, 3, 30), at(2025, 4, 2)),  # open at the start (576)
            episode("beyond", at(2026, 3, 30), at(2026, 4, 3), ("LAC-2",)),  # ends after (571)
        ],
        SINCE,
        UNTIL,
        ROLL,
    )
    assert [(r.child, r.start, r.end) for r in table.rows] == [
        ("LAC-1", date(2025, 3, 30), date(2025, 4, 2)),
        ("LAC-2", date(2026, 3, 30), None),
    ]


def test_no_record_or_two_records_are_listed_never_guessed() -> None:
    table = missing_table(
        [
            episode("none", at(2025, 5, 1), at(2025, 5, 2), ()),
            episode("gone", at(2025, 5, 1), at(2025, 5, 2), ("LAC-9",)),  # no longer on roll
            episode("two", at(2025, 5, 1), at(2025, 5, 2), ("LAC-1", "LAC-2")),
            episode("no-dob", at(2025, 5, 1), at(2025, 5, 2), ("LAC-3",), dob=None),
        ],
        SINCE,
        UNTIL,
        ROLL,
    )
    assert table.rows == []
    assert sorted(e.episode_ref for e in table.no_record) == ["gone", "none"]
    assert [e.episode_ref for e in table.several_records] == ["two"]
    assert table.refused == [
        "10/no-dob (M.K. (born 2011)), missing from 01/05/2025: no date of birth; not written"
    ]
    assert "M.K. (born 2011)" in table.no_record[0].describe()


def test_an_end_before_the_start_is_refused_rule_567() -> None:
    table = missing_table([episode("odd", at(2025, 5, 3), at(2025, 5, 1))], SINCE, UNTIL, ROLL)
    assert table.rows == [] and "567" in table.refused[0]


def test_overlaps_are_written_and_flagged_rule_574_and_duplicates_are_one_row() -> None:
    table = missing_table(
        [
            episode("open", at(2025, 5, 1), None),
            episode("next", at(2025, 6, 1), at(2025, 6, 2)),
            episode("x", at(2025, 7, 1), at(2025, 7, 5), ("LAC-2",)),
            episode("y", at(2025, 7, 3), at(2025, 7, 4), ("LAC-2",)),
            episode("same", at(2025, 8, 1), at(2025, 8, 2), ("LAC-2",)),
            episode("same-again", at(2025, 8, 1, 15), at(2025, 8, 2, 9), ("LAC-2",)),
            episode("touching", at(2025, 8, 2, 20), at(2025, 8, 3), ("LAC-2",)),
        ],
        SINCE,
        UNTIL,
        ROLL,
    )
    assert len(table.rows) == 6  # the same episode twice is one row
    assert [w.split(":")[0] for w in table.warnings] == ["CHILD LAC-1", "CHILD LAC-2"]
    assert "still open" in table.warnings[0] and "overlaps" in table.warnings[1]
