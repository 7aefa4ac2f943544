"""The RHI record (``rhi-task-outcomes.v2``, issue 21): what fits together, what the
producers refuse against the return and the clock, and the v1 projection the readers of
``rhi-task-outcomes.v1`` keep getting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.catalogue import RHI_TASK_OUTCOMES, RHI_TASK_OUTCOMES_V2, topic_by_wire
from schemas.errors import field_errors
from schemas.messages import RhiOutcome, RhiTaskOutcomeV1
from schemas.rhi_record import (
    DEFAULT_PULL_FACTORS,
    DEFAULT_PUSH_FACTORS,
    RhiTaskOutcomeV2,
    factor_problems,
    timing_problems,
)

RETURNED = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
NOW = RETURNED + timedelta(hours=80)


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "message_id": "m-1",
        "task_id": "t-1",
        "outcome": "completed",
        "recorded_by": "rhi.worker",
        "recorded_at": NOW,
        "offer": {"offered_at": RETURNED + timedelta(hours=5), "method": "phone", "accepted": True},
        "interviewed_at": RETURNED + timedelta(hours=70),
        "interviewer": {"name": "Sam Okafor", "organisation": "Barnardo's", "independent": True},
        "whereabouts": "A flat in town",
        "push_factors": ["family-conflict"],
        "pull_factors": ["peer-pressure"],
        "harm_disclosed": True,
        "harm_kinds": ["grooming"],
        "referrals": ["camhs"],
        "shared_with_police": True,
    }
    return base | changes


def first_error(fields: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        RhiTaskOutcomeV2.model_validate(fields)
    error = field_errors(caught.value)[0]
    return error["field"], error["message"]


def test_a_full_record_validates_and_projects_to_v1_without_the_interview() -> None:
    full = RhiTaskOutcomeV2.model_validate(record())
    v1 = full.as_v1()
    assert isinstance(v1, RhiTaskOutcomeV1)
    assert (v1.task_id, v1.outcome, v1.recorded_by) == ("t-1", RhiOutcome.COMPLETED, "rhi.worker")
    assert v1.message_id != full.message_id  # its own message, on its own topic
    assert "whereabouts" not in v1.model_dump() and "child_words" not in v1.model_dump()


def test_v2_has_its_own_topic_and_v1_stays_as_it_was() -> None:
    assert RHI_TASK_OUTCOMES_V2.wire == "rhi-task-outcomes.v2"
    assert topic_by_wire("rhi-task-outcomes.v1") is RHI_TASK_OUTCOMES
    assert RHI_TASK_OUTCOMES.model is RhiTaskOutcomeV1
    assert RHI_TASK_OUTCOMES.consumers == ("notifier",)  # the notifier reads v1, as before
    # A v1 reader refuses unknown fields: a v2 body on v1's topic would be dead-lettered.
    with pytest.raises(ValidationError):
        RhiTaskOutcomeV1.model_validate(RhiTaskOutcomeV2.model_validate(record()).model_dump())


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"outcome": "declined", "interviewed_at": None, "offer": None}, "reason", "declined"),
        ({"outcome": "not-possible", "interviewed_at": None}, "reason", "not-possible"),
        ({"interviewed_at": None}, "interviewed_at", "required"),
        ({"interviewer": None}, "interviewer.name", "required"),
        (
            {"outcome": "declined", "reason": "did not want to", "offer": None},
            "interviewed_at",
            "completed",
        ),
        (
            {"offer": {"offered_at": RETURNED, "method": "letter", "accepted": False}},
            "offer.accepted",
            "accepted",
        ),
        ({"interviewed_at": RETURNED + timedelta(hours=1)}, "interviewed_at", "offered"),
        ({"interviewed_at": NOW + timedelta(minutes=1)}, "interviewed_at", "future"),
        ({"harm_disclosed": False}, "harm_kinds", "only when harm"),
        ({"referrals": ["camhs", "camhs"]}, "referrals", "twice"),
    ],
)
def test_what_does_not_fit_together_names_its_field(
    changes: dict[str, Any], field: str, words: str
) -> None:
    named, message = first_error(record(**changes))
    assert named == field and words in message


def test_a_declined_interview_is_not_accepted_and_has_its_reason() -> None:
    declined = RhiTaskOutcomeV2.model_validate(
        record(
            outcome="declined",
            reason="The child did not want to talk",
            interviewed_at=None,
            interviewer=None,
            offer={
                "offered_at": RETURNED + timedelta(hours=3),
                "method": "in-person",
                "accepted": False,
            },
        )
    )
    assert declined.as_v1().reason == "The child did not want to talk"


def test_control_characters_and_prose_factors_are_refused() -> None:
    assert first_error(record(child_words="I said \x1b[31m no"))[0] == "child_words"
    assert first_error(record(push_factors=["Family conflict!"]))[0].startswith("push_factors")


def test_timing_against_the_return_and_the_clock() -> None:
    early = RhiTaskOutcomeV2.model_validate(
        record(
            offer={
                "offered_at": RETURNED - timedelta(hours=1),
                "method": "phone",
                "accepted": True,
            },
            interviewed_at=RETURNED - timedelta(minutes=30),
        )
    )
    assert [(p.field, p.message) for p in timing_problems(early, RETURNED, NOW)] == [
        ("offer.offered_at", "is before the child's return"),
        ("interviewed_at", "is before the child's return"),
    ]
    fine = RhiTaskOutcomeV2.model_validate(record())
    assert timing_problems(fine, RETURNED, NOW) == []
    # The producer's clock, not the record's: a time after "now" is refused.
    assert [p.field for p in timing_problems(fine, RETURNED, RETURNED + timedelta(hours=6))] == [
        "interviewed_at"
    ]


def test_factors_must_be_the_policy_s() -> None:
    fine = RhiTaskOutcomeV2.model_validate(record())
    assert factor_problems(fine, DEFAULT_PUSH_FACTORS, DEFAULT_PULL_FACTORS) == []
    odd = RhiTaskOutcomeV2.model_validate(record(pull_factors=["gangs"]))
    problems = factor_problems(odd, DEFAULT_PUSH_FACTORS, ["gangs-not-listed"])
    assert [p.field for p in problems] == ["pull_factors"]
    assert "gangs not in the policy's list" in problems[0].message
