"""RHI compliance figures: the share of interviews done within 72 hours, by month of
return and authority; open interviews not yet due are not counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.console.compliance import chart, figures

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def task(
    returned: datetime, state: str | None, done_after_h: float | None = None, la: str = "NCC"
) -> dict[str, Any]:
    due = returned + timedelta(hours=72)
    return {
        "returned_at": returned,
        "due_at": due,
        "state": state,
        "state_at": returned + timedelta(hours=done_after_h) if done_after_h is not None else None,
        "authority_name": la,
        "authority_code": "E06000057",
    }


def test_in_time_late_declined_overdue_and_not_yet_due() -> None:
    feb = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)
    mar = datetime(2026, 3, 19, 9, 0, tzinfo=UTC)  # due 22 March: after NOW
    rows = figures(
        [
            task(feb, "completed", 70),
            task(feb, "completed", 73),
            task(feb, "declined", 10),
            task(feb, "open"),  # overdue
            task(feb, "not-possible", 30),
            task(mar, "open"),  # not due yet: not counted
            task(mar, "completed", 5),
            task(feb, "completed", 1, la="Newcastle"),
        ],
        NOW,
    )
    assert [(r.month, r.authority) for r in rows] == [
        ("2026-03", "NCC"),
        ("2026-02", "NCC"),
        ("2026-02", "Newcastle"),
    ]
    mar_row, feb_row, other = rows
    assert (mar_row.due, mar_row.in_time, mar_row.share) == (1, 1, 1.0)
    assert (feb_row.due, feb_row.in_time, feb_row.late, feb_row.declined) == (5, 1, 1, 1)
    assert (feb_row.not_possible, feb_row.overdue, feb_row.share) == (1, 1, 0.2)
    assert other.share == 1.0

    drawn = chart(rows)
    assert [m for _, m in drawn["months"]] == ["2026-02", "2026-03"]
    assert len(drawn["bars"]) == 3
    assert "NCC, 2026-02: 20% of 5 in time" in [b.label for b in drawn["bars"]]
    tallest = max(drawn["bars"], key=lambda b: b.height)
    assert tallest.share == 1.0 and abs(tallest.y + tallest.height - drawn["base"]) < 1e-9
