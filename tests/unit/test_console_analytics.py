"""The partnership's figures (services/console/analytics.py; pure)."""

from __future__ import annotations

import csv
import io
from datetime import date

from services.console.analytics import EpisodeFacts, FactColumns, age_band, analyse, months


def fact(child: str, day: int, **changes: object) -> EpisodeFacts:
    values: dict[str, object] = {
        "child": child,
        "month": "2026-03",
        "day": day,
        "hour": 22,
        "weekday": 4,
        "age": 14,
        "sex": "Female",
        "looked_after": False,
        "missing_from": "home",
        "home_district": "NE61",
        "found_district": None,
        "exploitation": False,
        **changes,
    }
    return EpisodeFacts(**values)  # type: ignore[arg-type]


def test_ages_fall_in_bands_and_months_run_through_the_range() -> None:
    assert [age_band(a) for a in (None, "", 7, 10, "13", 15, 17)] == [
        "not recorded",
        "not recorded",
        "under 10",
        "10-11",
        "12-13",
        "14-15",
        "16-17",
    ]
    assert months(date(2025, 11, 5), date(2026, 2, 1)) == [
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
    ]


def test_every_figure_from_the_episodes() -> None:
    facts = [
        fact("a", 100),
        fact("a", 130, exploitation=True, found_district="NE1"),
        fact("a", 185, month="2026-04", hour=3, weekday=6, sex="female"),  # 3 within 90 days
        fact("b", 100, looked_after=True, missing_from="care", home_district=None, age=None),
        fact("b", 200, month="2026-04"),
        fact("b", 300, month="2026-04", found_district="NE1"),  # 3, but never within 90 days
    ]
    a = analyse(FactColumns.of(facts), date(2026, 3, 1), date(2026, 4, 30))
    assert (a.episodes, a.children, a.repeat_children, a.exploitation_episodes) == (6, 2, 1, 1)
    assert a.repeat_rate == 0.5
    by_month = a.figure("by-month")
    assert by_month is not None and by_month.rows == [("2026-03", (3, 2)), ("2026-04", (3, 2))]
    rows = {f.name: dict((label, v[0]) for label, v in f.rows) for f in a.figures}
    assert rows["by-sex"] == {"female": 6}  # case folded
    assert rows["by-age"]["14-15"] == 5 and rows["by-age"]["not recorded"] == 1
    assert rows["by-looked-after"] == {"looked after": 1, "not looked after": 5}
    assert rows["by-missing-from"]["care"] == 1 and rows["by-missing-from"]["home"] == 5
    assert rows["by-hour"]["22"] == 5 and rows["by-hour"]["03"] == 1 and rows["by-hour"]["00"] == 0
    assert rows["by-day"]["Fri"] == 5 and rows["by-day"]["Sun"] == 1
    assert rows["by-home-district"] == {"NE61": 5, "not recorded": 1}
    assert rows["by-found-district"] == {"NE1": 2}
    # Each has a chart, and a CSV a spreadsheet opens (shares beside the counts).
    assert all(f.chart is not None for f in a.figures)
    found = a.figure("by-found-district")
    assert found is not None
    assert list(csv.reader(io.StringIO(found.csv()))) == [
        ["label", "episodes", "share"],
        ["NE1", "2", "1.0000"],
    ]


def test_the_databases_text_counts_as_the_values_do() -> None:
    as_text = FactColumns(
        ["a", "a"],
        ["2026-03", "2026-03"],
        ["100", "101"],
        ["7", "7"],
        ["0", "0"],
        ["", "12"],
        ["", "male"],
        ["1", "true"],
        ["", "care"],
        ["", "NE1"],
        ["", ""],
        ["0", "t"],
    )
    a = analyse(as_text, date(2026, 3, 1), date(2026, 3, 31))
    rows = {f.name: dict((label, v[0]) for label, v in f.rows) for f in a.figures}
    assert rows["by-hour"]["07"] == 2 and rows["by-day"]["Mon"] == 2
    assert rows["by-looked-after"]["looked after"] == 2
    assert rows["by-sex"] == {"male": 1, "not recorded": 1}
    assert a.exploitation_episodes == 1 and rows["by-found-district"] == {}


def test_no_episode_is_no_figure_but_every_month() -> None:
    a = analyse(FactColumns.of([]), date(2026, 1, 1), date(2026, 2, 28))
    assert (a.episodes, a.children, a.repeat_rate) == (0, 0, None)
    month = a.figure("by-month")
    assert month is not None and [r[0] for r in month.rows] == ["2026-01", "2026-02"]
