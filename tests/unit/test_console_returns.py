"""The returns' figures (issue 21), pure: months in local time, distinct children per
month and over the period, how many episodes each child had, interviews due / offered /
offered within 72 h / completed / completed within 72 h / declined / not possible, and
the same for looked-after children and those placed outside the authority."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.console.charts import grouped_bars
from services.console.returns import (
    ChildMonth,
    Months,
    as_json,
    csv_header,
    csv_rows,
    figures,
    months_between,
)
from services.console.rhi_measures import TaskFacts

LA = "E06000057"


def task(
    returned: datetime,
    outcome: str | None,
    *,
    offered_h: float | None = None,
    interviewed_h: float | None = None,
    looked_after: bool = False,
    placed_out: bool = False,
) -> TaskFacts:
    return TaskFacts(
        task_id=f"t{returned.isoformat()}{outcome}{offered_h}{interviewed_h}",
        authority_code=LA,
        authority_name="Northumberland",
        returned_at=returned,
        due_at=returned + timedelta(hours=72),
        state=outcome or "open",
        state_at=returned + timedelta(hours=100) if outcome else None,
        outcome=outcome,
        offered_at=returned + timedelta(hours=offered_h) if offered_h is not None else None,
        interviewed_at=returned + timedelta(hours=interviewed_h)
        if interviewed_h is not None
        else None,
        looked_after=looked_after,
        placed_out=placed_out,
    )


def test_months_are_local_days_and_the_period_s_own_bounds() -> None:
    assert months_between(date(2025, 11, 15), date(2026, 2, 1)) == [
        date(2025, 11, 1),
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]
    months = Months(date(2026, 3, 15), date(2026, 4, 30))
    assert months.names == ["2026-03", "2026-04"]
    # 31 March 23:30 UTC is 1 April 00:30 in London (summer time): April.
    assert months.index(datetime(2026, 3, 31, 23, 30, tzinfo=UTC)) == 1
    assert months.index(datetime(2026, 3, 31, 22, 59, tzinfo=UTC)) == 0
    # Before the period's first day, after its last: not counted.
    assert months.index(datetime(2026, 3, 14, 12, tzinfo=UTC)) is None
    assert months.index(datetime(2026, 4, 30, 23, 0, tzinfo=UTC)) is None  # 1 May, 00:00 BST


def test_children_are_counted_once_per_month_and_once_over_the_period() -> None:
    grouped = [
        ChildMonth(0, "amy", 2, 0, 0),
        ChildMonth(0, "ben", 1, 1, 1),
        ChildMonth(1, "amy", 1, 0, 0),
        ChildMonth(1, "cal", 11, 11, 0),
        ChildMonth(1, "episode:10:X", 1, 0, 0),
    ]
    f = figures(LA, date(2026, 1, 1), date(2026, 2, 28), grouped, [])
    jan, feb = f.months
    assert (jan.month, jan.episodes, jan.children) == ("2026-01", 3, 2)
    assert (feb.episodes, feb.children) == (13, 3)
    assert (jan.looked_after_episodes, jan.looked_after_children) == (1, 1)
    assert (jan.placed_out_episodes, jan.placed_out_children) == (1, 1)
    assert jan.episodes_per_child == {"1": 1, "2": 1, "3": 0, "4": 0, "5-9": 0, "10+": 0}
    total = f.total
    assert (total.episodes, total.children) == (16, 4)  # amy once, not twice
    assert total.episodes_per_child == {"1": 2, "2": 0, "3": 1, "4": 0, "5-9": 0, "10+": 1}
    assert (total.looked_after_children, total.placed_out_children) == (2, 1)


def test_interviews_by_month_of_return() -> None:
    jan = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
    feb = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)
    tasks = [
        task(jan, "completed", offered_h=2, interviewed_h=70),  # in time, typed up at 100 h
        task(jan, "completed", offered_h=60, interviewed_h=80, looked_after=True),
        task(jan, "declined", offered_h=5),
        task(jan, "not-possible"),
        task(jan, None),  # still open: due, nothing else
        task(feb, "completed", looked_after=True, placed_out=True),  # v1: recorded at 100 h
        task(datetime(2025, 12, 31, 9, tzinfo=UTC), "completed"),  # before the period
    ]
    f = figures(LA, date(2026, 1, 1), date(2026, 2, 28), [], tasks)
    r = f.months[0].rhi
    assert (r.due, r.offered, r.offered_within_72h) == (5, 3, 3)
    assert (r.completed, r.completed_within_72h, r.declined, r.not_possible) == (2, 1, 1, 1)
    lac = f.months[0].rhi_looked_after
    assert (lac.due, lac.completed, lac.completed_within_72h, lac.offered_within_72h) == (
        1,
        1,
        0,
        1,
    )
    feb_rhi = f.months[1].rhi_placed_out
    assert (feb_rhi.due, feb_rhi.completed, feb_rhi.completed_within_72h) == (1, 1, 0)
    assert f.total.rhi.due == 6 and f.total.rhi_looked_after.due == 2


def test_json_and_csv_carry_every_figure() -> None:
    f = figures(
        LA,
        date(2026, 1, 1),
        date(2026, 1, 31),
        [ChildMonth(0, "amy", 1, 1, 0)],
        [task(datetime(2026, 1, 5, tzinfo=UTC), "completed", interviewed_h=3)],
    )
    doc = as_json(f)
    assert (doc["la"], doc["from"], doc["to"]) == (LA, "2026-01-01", "2026-01-31")
    assert doc["months"][0]["rhi"]["completed_within_72h"] == 1
    assert doc["total"]["month"] is None and doc["total"]["looked_after_children"] == 1
    header, rows = csv_header(), csv_rows(f)
    assert [row[0] for row in rows] == ["2026-01", "total"]
    assert all(len(row) == len(header) for row in rows)
    by_name = dict(zip(header, rows[1], strict=True))
    assert by_name["rhi_due"] == 1 and by_name["episodes_per_child_1"] == 1


def test_bars_stand_on_the_axis() -> None:
    chart = grouped_bars("t", ["a", "b"], [("x", [0, 40]), ("y", [10, 5])])
    tallest = max(chart.bars, key=lambda b: b.height)
    assert abs(tallest.y + tallest.height - chart.base) < 1e-9
    assert [text for _, text in chart.grid] == ["0", "25", "50"]
    assert "x, b: 40" in [b.label for b in chart.bars]
