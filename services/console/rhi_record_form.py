"""The RHI worker's form for a return home interview (issue 21): what was typed, turned
into an ``RhiTaskOutcomeV2`` or into problems that each name the field they are about
(the error summary links to it). Pure: no request, no database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from schemas.base import derived_id
from schemas.errors import field_errors
from schemas.messages import FieldErrorV1, RhiOutcome
from schemas.rhi_record import (
    HarmKind,
    OfferMethod,
    Referral,
    RhiTaskOutcomeV2,
    factor_problems,
    timing_problems,
)
from services.console.days import LONDON

SINGLE = (
    "outcome",
    "reason",
    "offered_at",
    "offer_method",
    "offer_accepted",
    "interviewed_at",
    "interviewer_name",
    "interviewer_organisation",
    "interviewer_independent",
    "whereabouts",
    "with_whom",
    "harm_disclosed",
    "child_words",
    "shared_with_police",
)
LISTS = ("push_factors", "pull_factors", "harm_kinds", "referrals")
# Each field of the record: the input it comes from, and how the page names it.
FIELDS: dict[str, tuple[str, str]] = {
    "outcome": ("outcome", "What happened"),
    "reason": ("reason", "Reason"),
    "offer": ("offered_at", "When the interview was offered"),
    "offer.offered_at": ("offered_at", "When the interview was offered"),
    "offer.method": ("offer_method", "How it was offered"),
    "offer.accepted": ("offer_accepted", "Whether the child accepted"),
    "interviewed_at": ("interviewed_at", "When the interview took place"),
    "interviewer": ("interviewer_name", "Who interviewed the child"),
    "interviewer.name": ("interviewer_name", "Who interviewed the child"),
    "interviewer.organisation": ("interviewer_organisation", "Their organisation"),
    "interviewer.independent": ("interviewer_independent", "Independent of the child's carers"),
    "whereabouts": ("whereabouts", "Where the child was"),
    "with_whom": ("with_whom", "With whom"),
    "push_factors": ("push_factors", "Push factors"),
    "pull_factors": ("pull_factors", "Pull factors"),
    "harm_disclosed": ("harm_disclosed", "Harm disclosed"),
    "harm_kinds": ("harm_kinds", "Kinds of harm"),
    "child_words": ("child_words", "The child's own words"),
    "referrals": ("referrals", "Referred on to"),
    "shared_with_police": ("shared_with_police", "Shared with the police"),
}
# Said the way the existing form said it (and a worker reads it first).
_REASON_NEEDED = {
    RhiOutcome.NOT_POSSIBLE: "Say why an interview was not possible.",
    RhiOutcome.DECLINED: "Say why the interview was declined.",
}


@dataclass(frozen=True)
class Problem:
    anchor: str  # the id of the input to fix
    message: str


@dataclass
class RecordForm:
    """What the worker typed, kept to show back beside the problems."""

    values: dict[str, str] = field(default_factory=dict)
    chosen: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, data: Any) -> RecordForm:
        """From a Starlette ``FormData`` (or any mapping with ``getlist``)."""
        values = {name: str(data.get(name) or "")[:5000] for name in SINGLE}
        chosen = {name: [str(v)[:100] for v in data.getlist(name)][:40] for name in LISTS}
        return cls(values, chosen)

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def has(self, name: str, option: str) -> bool:
        return option in self.chosen.get(name, [])


def _when(text: str) -> datetime:
    """A ``datetime-local`` input: local time in England and Wales."""
    moment = datetime.fromisoformat(text.strip())
    return moment.replace(tzinfo=LONDON) if moment.tzinfo is None else moment


def _yes_no(text: str) -> bool | None:
    return {"yes": True, "no": False}.get(text)


def _problem(error: FieldErrorV1, outcome: RhiOutcome | None) -> Problem:
    anchor, label = FIELDS.get(error.field, ("outcome", error.field))
    if error.field == "reason" and outcome in _REASON_NEEDED and "required" in error.message:
        return Problem(anchor, _REASON_NEEDED[outcome])
    return Problem(anchor, f"{label}: {error.message}.")


def build(
    form: RecordForm,
    *,
    task_id: str,
    returned_at: datetime,
    recorded_by: str,
    now: datetime,
    push: Sequence[str],
    pull: Sequence[str],
) -> RhiTaskOutcomeV2 | list[Problem]:
    """The record, or what stops it (each problem once, in the form's order)."""
    v = form.value
    if v("outcome") not in {o.value for o in RhiOutcome}:
        return [Problem("outcome", "Choose the interview's outcome.")]
    outcome = RhiOutcome(v("outcome"))
    times = _times(form)
    if isinstance(times, list):
        return times
    problems: list[Problem] = []
    fields = _fields(form, task_id, outcome, times, recorded_by, now)
    interviewer = fields["interviewer"]
    if interviewer is not None and interviewer["independent"] is None:
        problems.append(
            Problem(
                "interviewer_independent",
                "Say whether the interviewer is independent of the child's carers.",
            )
        )
        interviewer["independent"] = False  # so that the rest is checked too; refused above
    try:
        record = RhiTaskOutcomeV2.model_validate(fields)
    except ValidationError as exc:
        errors = [FieldErrorV1(**e) for e in field_errors(exc)]
        return _unique(problems + [_problem(e, outcome) for e in errors])
    later = timing_problems(record, returned_at, now) + factor_problems(record, push, pull)
    problems += [_problem(e, outcome) for e in later]
    return _unique(problems) if problems else record


def _times(form: RecordForm) -> dict[str, datetime | None] | list[Problem]:
    """When the interview was offered and took place (None: not given), or what to fix."""
    v = form.value
    times: dict[str, datetime | None] = {}
    problems: list[Problem] = []
    for name, label in (
        ("offered_at", "When the interview was offered"),
        ("interviewed_at", "When the interview took place"),
    ):
        try:
            times[name] = _when(v(name)) if v(name).strip() else None
        except ValueError:
            problems.append(Problem(name, f"{label}: enter a date and a time."))
    return problems or times


def _fields(
    form: RecordForm,
    task_id: str,
    outcome: RhiOutcome,
    times: dict[str, datetime | None],
    recorded_by: str,
    now: datetime,
) -> dict[str, Any]:
    """The record's fields from the form, for the model to check."""
    v = form.value
    offered = times["offered_at"]
    accepted = _yes_no(v("offer_accepted"))
    return {
        "message_id": derived_id("rhi-task-outcome", task_id, "console"),
        "task_id": task_id,
        "outcome": outcome,
        "reason": v("reason").strip() or None,
        "recorded_by": recorded_by,
        "recorded_at": now,
        "offer": None
        if offered is None
        else {
            "offered_at": offered,
            "method": v("offer_method") or OfferMethod.IN_PERSON.value,
            "accepted": outcome is not RhiOutcome.DECLINED if accepted is None else accepted,
        },
        "interviewed_at": times["interviewed_at"],
        "interviewer": None
        if not v("interviewer_name").strip()
        else {
            "name": v("interviewer_name"),
            "organisation": v("interviewer_organisation").strip() or None,
            "independent": _yes_no(v("interviewer_independent")),
        },
        "whereabouts": v("whereabouts").strip() or None,
        "with_whom": v("with_whom").strip() or None,
        "push_factors": form.chosen.get("push_factors", []),
        "pull_factors": form.chosen.get("pull_factors", []),
        "harm_disclosed": _yes_no(v("harm_disclosed")),
        "harm_kinds": form.chosen.get("harm_kinds", []),
        "child_words": v("child_words").strip() or None,
        "referrals": form.chosen.get("referrals", []),
        "shared_with_police": _yes_no(v("shared_with_police")),
    }


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


# The choices the form offers, as (value, label) pairs.
def options(values: Iterable[str]) -> list[tuple[str, str]]:
    return [(value, value.replace("-", " ").capitalize()) for value in values]


OFFER_METHODS = options(m.value for m in OfferMethod)
HARM_KINDS = options(k.value for k in HarmKind)
_NAMES = {"camhs": "CAMHS", "childrens-social-care": "Children's social care"}
REFERRALS = [(r.value, _NAMES.get(r.value) or options([r.value])[0][1]) for r in Referral]


def shown(record: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """A stored record with its lists split, for the task page."""
    if record is None:
        return None
    out = dict(record)
    for name in LISTS:
        out[name] = [v for v in (record.get(name) or "").split(",") if v]
    return out
