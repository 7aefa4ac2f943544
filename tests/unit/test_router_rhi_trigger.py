"""What opens a return home interview task (issue 21): ``returned`` as ever, or under
``rhi_trigger = "found"`` a ``found`` that waits ``rhi_found_wait_hours`` for a return;
and the authority's own record of a child it looks after, carried on its alert."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from schemas.base import derived_id
from schemas.episode import EpisodeEventV1
from services.router.policy import Policy, PolicyError, RhiTrigger
from tests.unit.test_router_policy import AT, NLD, event, match, plan_for


def ev(type_: str) -> EpisodeEventV1:
    return event(type_, child={"responsible_la": NLD})


def test_by_default_found_opens_nothing_and_returned_opens_a_task() -> None:
    assert plan_for(ev("found")).awaiting_return == []
    assert plan_for(ev("found")).rhi_tasks == []
    returned = plan_for(ev("returned"))
    assert len(returned.rhi_tasks) == 1 and returned.awaiting_return == []


def test_under_the_found_trigger_a_found_waits_for_a_return() -> None:
    policy = Policy(rhi_trigger=RhiTrigger.FOUND, rhi_found_wait_hours=12)
    found = ev("found")
    plan = plan_for(found, policy=policy)
    assert plan.rhi_tasks == []
    [awaited] = plan.awaiting_return
    assert awaited.open_at == AT + timedelta(hours=12)
    task = awaited.task
    assert task.task_id == derived_id(found.message_id, NLD, "rhi")
    # Its return is the time the child was found; due 72 hours after it.
    assert task.returned_at == AT and task.due_at == AT + timedelta(hours=72)
    assert task.episode.event_type.value == "found"
    # A returned still opens its own task at once (the waiting row is settled by the
    # handler, services/router/awaiting_return.py).
    assert len(plan_for(ev("returned"), policy=policy).rhi_tasks) == 1
    assert plan_for(ev("reported"), policy=policy).awaiting_return == []


def test_the_trigger_is_read_from_the_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[routing]\nrhi_trigger = "found"\nrhi_found_wait_hours = 24\n')
    policy = Policy.from_toml(path)
    assert (policy.rhi_trigger, policy.rhi_found_wait_hours) == (RhiTrigger.FOUND, 24)
    assert Policy().rhi_trigger is RhiTrigger.RETURNED


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('rhi_trigger = "closed"', 'rhi_trigger: "returned" or "found"'),
        ("rhi_trigger = 1", 'rhi_trigger: "returned" or "found"'),
        ("rhi_found_wait_hours = 0", "rhi_found_wait_hours: a whole number of at least 1"),
        ("rhi_found_wait_hours = 72", "rhi_found_wait_hours: less than rhi_due_hours (72)"),
        ("rhi_due_hours = 48\nrhi_found_wait_hours = 60", "less than rhi_due_hours (48)"),
    ],
)
def test_a_wrong_trigger_names_the_key(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(f"[routing]\n{text}\n")
    with pytest.raises(PolicyError, match=words.replace("(", r"\(").replace(")", r"\)")):
        Policy.from_toml(path)


@pytest.mark.parametrize("type_", ["reported", "found", "returned", "closed"])
def test_the_authority_s_alert_carries_its_own_record_of_the_child(type_: str) -> None:
    """A looked-after child on the authority's own roll: the record id rides on the
    authority's alert (the CHILD of its SSDA903 return); never a guess from a review."""
    child = {"looked_after": True, "responsible_la": NLD}
    on_roll = plan_for(event(type_, child=child), [match(NLD, "LAC-7"), match("100001")])
    authority = next(a for a in on_roll.alerts if a.recipient.code == NLD)
    assert authority.roll_record_id == "LAC-7"
    reviewed = plan_for(event(type_, child=child), [match(NLD, "LAC-7", "review")])
    assert next(a for a in reviewed.alerts if a.recipient.code == NLD).roll_record_id is None
