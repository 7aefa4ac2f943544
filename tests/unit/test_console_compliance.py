"""RHI compliance figures: the share of interviews done, and offered, within 72 hours
of the return, by month of return and authority; open interviews not yet due are not
counted; an interview is judged by when it took place, not when it was typed up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.console.compliance import chart, figures
from services.console.rhi_measures import TaskFacts

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def task(
    returned: datetime,
    state: str | None,
    done_after_h: float | None = None,
    la: str = "NCC",
    interviewed_after_h: float | None = None,
    offered_after_h: float | None = None,
) -> TaskFacts:
    """``done_after_h``: when the notifier closed it; ``interviewed_after_h`` and
    ``offered_after_h``: the record's times (a v2 record), when there is one."""
    record = interviewed_after_h is not None or offered_after_h is not None
    return TaskFacts(
        task_id=f"t-{returned:%m%d}-{state}-{done_after_h}",
        authority_code="E06000057",
        authority_name=la,
        returned_at=returned,
        due_at=returned + timedelta(hours=72),
        state=state,
        state_at=returned + timedelta(hours=done_after_h) if done_after_h is not None else None,
        outcome=state if record else None,
        offered_at=returned + timedelta(hours=offered_after_h) if offered_after_h else None,
        interviewed_at=returned + timedelta(hours=interviewed_after_h)
        if interviewed_after_h is not None
        else None,
    )


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


def test_an_interview_typed_up_late_is_not_late_and_offers_count_on_their_own() -> None:
    feb = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)
    [row] = figures(
        [
            # Interviewed at 70 hours, recorded (and closed) at 80: in time.
            task(feb, "completed", 80, interviewed_after_h=70, offered_after_h=4),
            # Interviewed at 75 hours, recorded at 76: late, though offered in time.
            task(feb, "completed", 76, interviewed_after_h=75, offered_after_h=20),
            # Offered at 73 hours, declined: not offered in time.
            task(feb, "declined", 74, offered_after_h=73),
            # Declined, offered at 10 hours: offered in time, not done.
            task(feb, "declined", 11, offered_after_h=10),
        ],
        NOW,
    )
    assert (row.due, row.in_time, row.late, row.declined) == (4, 1, 1, 2)
    assert row.offered_in_time == 3 and row.offered_share == 0.75
