"""The MSET panel's rules (services/console/panel.py; pure): forms name the field of
every problem, an action's state, the agenda's order."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.console.panel import (
    Action,
    ActionDraft,
    ChildLabel,
    ChildReview,
    MeetingForm,
    NewMeeting,
    ReviewForm,
    ReviewRecord,
    agenda,
    check_meeting,
    check_review,
)

HELD = date(2026, 11, 20)


def form(**changes: object) -> ReviewForm:
    values: dict[str, object] = {
        "decision": "Strategy meeting",
        "risk_view": "high",
        "next_review": "2026-12-18",
        "actions": [ActionDraft("Home visit", "YOT-1", "2026-11-27"), ActionDraft(), ActionDraft()],
        **changes,
    }
    return ReviewForm(**values)  # type: ignore[arg-type]


def anchors(result: object) -> list[str]:
    assert isinstance(result, list)
    return [p.anchor for p in result]


def test_a_whole_record_is_kept() -> None:
    record = check_review(form(), {"YOT-1"}, [], HELD)
    assert isinstance(record, ReviewRecord)
    assert [(a.text, a.owner_code, a.due_on) for a in record.actions] == [
        ("Home visit", "YOT-1", date(2026, 11, 27))
    ]


def test_an_action_without_an_owner_or_a_due_date_names_which() -> None:
    drafts = [ActionDraft("Home visit", "", "2026-11-27"), ActionDraft("Refer", "YOT-1", "")]
    result = check_review(form(actions=[*drafts, ActionDraft()]), {"YOT-1"}, [], HELD)
    assert anchors(result) == ["action-1-owner", "action-2-due"]
    assert [p.message for p in result] == [  # type: ignore[union-attr]
        "Action 1: choose the organisation that owns it.",
        "Action 2: enter the date it is due.",
    ]


def test_every_other_problem_names_its_field() -> None:
    result = check_review(
        form(
            decision=" ",
            risk_view="dreadful",
            next_review="2026-11-01",
            actions=[ActionDraft("", "NOBODY", "soon"), ActionDraft(), ActionDraft()],
            done=["someone-elses"],
        ),
        {"YOT-1"},
        ["mine"],
        HELD,
    )
    assert anchors(result) == [
        "decision",
        "risk_view",
        "next_review",
        "action-1-text",
        "action-1-owner",
        "action-1-due",
        "done",
    ]
    bad = check_review(form(decision="a\x00b"), {"YOT-1"}, [], HELD)
    assert anchors(bad) == ["decision"]


def test_a_meeting_needs_a_date_a_chair_and_who_came() -> None:
    assert anchors(check_meeting(MeetingForm(), {"YOT-1"})) == [
        "held_on",
        "chair",
        "organisations",
    ]
    made = check_meeting(MeetingForm("2026-11-20", " DI Moss ", ["YOT-1"]), {"YOT-1"})
    assert made == NewMeeting(HELD, "DI Moss", ("YOT-1",))


def test_an_open_action_past_its_due_date_is_overdue() -> None:
    a = Action("a", "m", "c", "Visit", "YOT-1", date(2026, 11, 27), "open", 1)
    assert a.status(date(2026, 11, 27)) == "open"
    assert a.status(date(2026, 11, 28)) == "overdue"
    done = Action("a", "m", "c", "Visit", "YOT-1", date(2026, 11, 27), "done", 2)
    assert done.status(date(2026, 12, 28)) == "done"


def test_the_agenda_lists_each_child_once_with_every_reason() -> None:
    review = ChildReview(
        "m0", date(2026, 10, 1), "c2", "Watch", "medium", None, "chair", datetime.now(UTC)
    )
    items = agenda(
        {"watchlist": ["c1", "c2"], "high-risk": ["c2", "c3"], "actions-due": ["c1"]},
        {"c1": ChildLabel("c1", "A.B.", 2011)},
        {"c2": review},
        {},
        ["c3"],
    )
    assert [(i.child.child_id, i.reasons) for i in items] == [
        ("c1", ["watchlist", "actions-due"]),
        ("c2", ["watchlist", "high-risk"]),
        ("c3", ["high-risk"]),
    ]
    assert items[1].last_review == review and items[2].reviewed_here
