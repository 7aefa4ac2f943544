"""The RHI worker's form (issue 21), pure: what was typed becomes a record, or problems
that each name the input to fix."""

from __future__ import annotations

from datetime import UTC, datetime

from services.console.rhi_record_form import Problem, RecordForm, build
from services.runtime.rhi_policy import RhiFactors

# 18:00 on 23 November (GMT): the child came home. Now: 26 November, 12:00.
RETURNED = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
FACTORS = RhiFactors()


def form(lists: dict[str, list[str]] | None = None, **values: str) -> RecordForm:
    typed = {
        "outcome": "completed",
        "offered_at": "2026-11-24T09:00",
        "offer_method": "phone",
        "interviewed_at": "2026-11-25T15:30",
        "interviewer_name": "Sam Okafor",
        "interviewer_organisation": "Barnardo's",
        "interviewer_independent": "yes",
        "harm_disclosed": "yes",
        "shared_with_police": "no",
        "child_words": "I wanted to get away.\nThat's all.",
    }
    typed.update(values)
    chosen = {"push_factors": ["family-conflict"], "harm_kinds": ["grooming"], **(lists or {})}
    return RecordForm(typed, chosen)


def built(f: RecordForm) -> object:
    return build(
        f,
        task_id="t-1",
        returned_at=RETURNED,
        recorded_by="rhi-north",
        now=NOW,
        push=FACTORS.push,
        pull=FACTORS.pull,
    )


def test_a_full_form_becomes_the_record() -> None:
    record = built(form())
    assert not isinstance(record, list), record
    assert record.interviewed_at == datetime(2026, 11, 25, 15, 30, tzinfo=UTC)  # GMT
    assert record.offer is not None and record.offer.accepted is True
    assert record.interviewer is not None and record.interviewer.independent is True
    assert record.child_words == "I wanted to get away.\nThat's all."
    assert record.push_factors == ["family-conflict"] and record.harm_kinds == ["grooming"]
    assert record.shared_with_police is False and record.recorded_by == "rhi-north"


def test_summer_time_is_local_time() -> None:
    record = build(
        form(offered_at="", interviewed_at="2026-07-02T10:00"),
        task_id="t-1",
        returned_at=datetime(2026, 7, 1, 8, tzinfo=UTC),
        recorded_by="rhi-north",
        now=datetime(2026, 7, 3, tzinfo=UTC),
        push=FACTORS.push,
        pull=FACTORS.pull,
    )
    assert not isinstance(record, list)
    assert record.interviewed_at == datetime(2026, 7, 2, 9, 0, tzinfo=UTC)  # 10:00 BST


def test_bad_input_names_the_field() -> None:
    cases = [
        (
            form(interviewed_at="2026-11-23T17:00", offered_at=""),
            "interviewed_at",
            "before the child's return",
        ),
        (form(interviewed_at="2026-11-27T10:00"), "interviewed_at", "in the future"),
        (form(interviewed_at="yesterday"), "interviewed_at", "enter a date and a time"),
        (form(interviewed_at=""), "interviewed_at", "required"),
        (form(offered_at="2026-11-22T10:00"), "offered_at", "before the child's return"),
        (form(interviewer_independent=""), "interviewer_independent", "independent"),
        (form(interviewer_name=""), "interviewer_name", "required"),
        (form({"pull_factors": ["gangs"]}), "pull_factors", "not in the policy's list"),
        (form(harm_disclosed="no"), "harm_kinds", "only when harm was disclosed"),
    ]
    for typed, anchor, words in cases:
        problems = built(typed)
        assert isinstance(problems, list), (anchor, problems)
        assert any(p.anchor == anchor and words in p.message for p in problems), problems


def test_a_declined_interview_needs_its_reason_and_an_outcome_is_chosen() -> None:
    declined = form(outcome="declined", interviewed_at="", interviewer_name="")
    assert built(declined) == [Problem("reason", "Say why the interview was declined.")]
    not_possible = form(outcome="not-possible", interviewed_at="", interviewer_name="")
    assert built(not_possible) == [Problem("reason", "Say why an interview was not possible.")]
    record = built(form(outcome="declined", reason="Did not want to", interviewed_at=""))
    # An interviewer named on a declined interview is kept; the offer was not accepted.
    assert not isinstance(record, list) and record.offer is not None
    assert record.offer.accepted is False
    assert built(form(outcome="")) == [Problem("outcome", "Choose the interview's outcome.")]
