"""The MSET panel's work (issue 20; pure): meetings, what the panel decides about each
child, and the actions it gives organisations.

- A meeting has a date, a chair and the organisations present. Its agenda builds itself
  (:func:`agenda`): the watchlist's children, children with a new high-risk or
  exploitation episode since the panel last met, children with an overdue return home
  interview, and children with actions due by the meeting.
- Per child per meeting: the decision (text), the panel's own view of the risk, actions
  (text, owner organisation, due date) and the date to review the child again.
- An action is open until marked done; open past its due date, it is overdue
  (:meth:`Action.status`): shown on the chair's home page, and emailed to the owner
  organisation the day after it falls due (the notifier, through panel-actions.v1).

Forms are checked here and every problem names its field (``action-2-owner``: the
second action has no owner organisation), so the page can point at it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from schemas.episode import clean_text

RISK_VIEWS = ("low", "medium", "high", "very-high")
ACTION_ROWS = 3  # blank action rows on the form
TEXT_MAX = 2000
CHAIR_MAX = 200
ActionStatus = Literal["open", "done", "overdue"]


@dataclass(frozen=True)
class Problem:
    anchor: str  # the id of the input to fix
    message: str


@dataclass(frozen=True)
class Meeting:
    meeting_id: str
    held_on: date
    chair: str
    organisations: tuple[str, ...]
    created_by: str


@dataclass(frozen=True)
class ChildReview:
    """What one meeting decided about one child."""

    meeting_id: str
    held_on: date
    child_id: str
    decision: str
    risk_view: str
    next_review_on: date | None
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class Action:
    action_id: str
    meeting_id: str
    child_id: str
    text: str
    owner_code: str
    due_on: date
    state: str  # open | done
    revision: int
    done_at: datetime | None = None
    done_by: str | None = None

    def status(self, today: date) -> ActionStatus:
        if self.state == "done":
            return "done"
        return "overdue" if self.due_on < today else "open"


# --- forms ---------------------------------------------------------------------------


def _text(raw: str, anchor: str, what: str, limit: int, problems: list[Problem]) -> str:
    try:
        text = clean_text(raw, "lines")
    except ValueError as exc:
        problems.append(Problem(anchor, f"{what} {exc}."))
        return ""
    if len(text) > limit:
        problems.append(Problem(anchor, f"{what} must be {limit:,} characters or fewer."))
    return text


def _date(raw: str, anchor: str, what: str, problems: list[Problem]) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems.append(Problem(anchor, f"{what} must be a date, e.g. 2026-12-17."))
        return None


@dataclass
class MeetingForm:
    held_on: str = ""
    chair: str = ""
    organisations: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NewMeeting:
    held_on: date
    chair: str
    organisations: tuple[str, ...]


def check_meeting(form: MeetingForm, known: Iterable[str]) -> NewMeeting | list[Problem]:
    problems: list[Problem] = []
    held_on = _date(form.held_on, "held_on", "The meeting date", problems)
    if held_on is None and not any(p.anchor == "held_on" for p in problems):
        problems.append(Problem("held_on", "Enter the date of the meeting."))
    chair = _text(form.chair, "chair", "The chair's name", CHAIR_MAX, problems)
    if not chair and not any(p.anchor == "chair" for p in problems):
        problems.append(Problem("chair", "Enter who chaired the meeting."))
    present = tuple(dict.fromkeys(form.organisations))
    if not present:
        problems.append(Problem("organisations", "Choose the organisations present."))
    elif not set(present) <= set(known):
        problems.append(Problem("organisations", "Choose organisations from the list."))
    if problems:
        return problems
    assert held_on is not None
    return NewMeeting(held_on, chair, present)


@dataclass
class ActionDraft:
    text: str = ""
    owner: str = ""
    due: str = ""

    @property
    def blank(self) -> bool:
        return not (self.text.strip() or self.owner.strip() or self.due.strip())


@dataclass
class ReviewForm:
    """What the chair typed for one child, kept to show back beside the problems."""

    decision: str = ""
    risk_view: str = ""
    next_review: str = ""
    actions: list[ActionDraft] = field(
        default_factory=lambda: [ActionDraft() for _ in range(ACTION_ROWS)]
    )
    done: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, data: Mapping[str, str], done: Sequence[str]) -> ReviewForm:
        return cls(
            decision=data.get("decision", "")[: TEXT_MAX * 2],
            risk_view=data.get("risk_view", ""),
            next_review=data.get("next_review", "")[:20],
            actions=[
                ActionDraft(
                    data.get(f"action-{n}-text", "")[: TEXT_MAX * 2],
                    data.get(f"action-{n}-owner", "")[:20],
                    data.get(f"action-{n}-due", "")[:20],
                )
                for n in range(1, ACTION_ROWS + 1)
            ],
            done=list(done)[:200],
        )


@dataclass(frozen=True)
class NewAction:
    text: str
    owner_code: str
    due_on: date


@dataclass(frozen=True)
class ReviewRecord:
    decision: str
    risk_view: str
    next_review_on: date | None
    actions: tuple[NewAction, ...]
    done: tuple[str, ...]


def _check_action(
    draft: ActionDraft, anchor: str, name: str | None, owners: set[str], held_on: date
) -> NewAction | list[Problem]:
    """One action as on the panel's form (``name``: "Action 2", whose problems start
    with it; None for the one action of the edit form)."""
    problems: list[Problem] = []

    def lead(message: str) -> str:
        return f"{name}: {message}" if name else message[0].upper() + message[1:]

    text = _text(draft.text, f"{anchor}-text", name or "The action", TEXT_MAX, problems)
    if not text and not any(p.anchor == f"{anchor}-text" for p in problems):
        problems.append(Problem(f"{anchor}-text", lead("say what is to be done.")))
    owner = draft.owner.strip()
    if not owner:
        problems.append(Problem(f"{anchor}-owner", lead("choose the organisation that owns it.")))
    elif owner not in owners:
        problems.append(Problem(f"{anchor}-owner", lead("choose an organisation from the list.")))
    due = _date(draft.due, f"{anchor}-due", lead("the due date"), problems)
    if due is None and not any(p.anchor == f"{anchor}-due" for p in problems):
        problems.append(Problem(f"{anchor}-due", lead("enter the date it is due.")))
    elif due is not None and due < held_on:
        problems.append(
            Problem(f"{anchor}-due", lead("the due date cannot be before the meeting."))
        )
    if problems:
        return problems
    assert due is not None
    return NewAction(text, owner, due)


def action_form(a: Action) -> ActionDraft:
    """The edit form of an action, filled with what it is now."""
    return ActionDraft(a.text, a.owner_code, a.due_on.isoformat())


def draft_of(data: Mapping[str, str]) -> ActionDraft:
    """The edit form as posted (fields ``action-text``, ``action-owner``, ``action-due``)."""
    return ActionDraft(
        data.get("action-text", "")[: TEXT_MAX * 2],
        data.get("action-owner", "")[:20],
        data.get("action-due", "")[:20],
    )


def check_action_change(
    draft: ActionDraft, owners: Iterable[str], held_on: date
) -> NewAction | list[Problem]:
    """An action changed by the chair: the same rules as a new one (its text, an owner
    organisation from the list, a due date not before the meeting that gave it)."""
    return _check_action(draft, "action", None, set(owners), held_on)


def changed_fields(a: Action, change: NewAction) -> list[str]:
    """Which of the action's fields the change alters (names only: the audit's detail)."""
    return [
        name
        for name, before, after in (
            ("text", a.text, change.text),
            ("owner", a.owner_code, change.owner_code),
            ("due date", a.due_on, change.due_on),
        )
        if before != after
    ]


def check_review(
    form: ReviewForm, owners: Iterable[str], open_actions: Iterable[str], held_on: date
) -> ReviewRecord | list[Problem]:
    """The record, or every problem with the field it is about. An action needs its text,
    an owner organisation and a due date; a date to review the child again and a due date
    cannot be before the meeting."""
    problems: list[Problem] = []
    decision = _text(form.decision, "decision", "The decision", TEXT_MAX, problems)
    if not decision and not any(p.anchor == "decision" for p in problems):
        problems.append(Problem("decision", "Enter the panel's decision."))
    if form.risk_view not in RISK_VIEWS:
        problems.append(Problem("risk_view", "Choose the panel's view of the risk."))
    next_review = _date(form.next_review, "next_review", "The next review date", problems)
    if next_review is not None and next_review < held_on:
        problems.append(
            Problem("next_review", "The next review date cannot be before the meeting.")
        )
    known_owners = set(owners)
    actions: list[NewAction] = []
    for n, draft in enumerate(form.actions, start=1):
        if draft.blank:
            continue
        checked = _check_action(draft, f"action-{n}", f"Action {n}", known_owners, held_on)
        if isinstance(checked, list):
            problems += checked
        else:
            actions.append(checked)
    done = tuple(dict.fromkeys(form.done))
    if not set(done) <= set(open_actions):
        problems.append(Problem("done", "Only this child's open actions can be marked done."))
    if problems:
        return problems
    return ReviewRecord(decision, form.risk_view, next_review, tuple(actions), done)


# --- the agenda ----------------------------------------------------------------------

Reason = Literal["watchlist", "high-risk", "overdue-rhi", "actions-due"]
REASON_TEXT: dict[str, str] = {
    "watchlist": "On the watchlist",
    "high-risk": "New high-risk or exploitation episode since the last meeting",
    "overdue-rhi": "Return home interview overdue",
    "actions-due": "Actions due",
}


@dataclass(frozen=True)
class ChildLabel:
    child_id: str
    initials: str | None
    birth_year: int | None


@dataclass
class AgendaItem:
    child: ChildLabel
    reasons: list[str] = field(default_factory=list)
    last_review: ChildReview | None = None
    actions: list[Action] = field(default_factory=list)
    reviewed_here: bool = False


def agenda(
    by_reason: Mapping[str, Sequence[str]],
    labels: Mapping[str, ChildLabel],
    last_reviews: Mapping[str, ChildReview],
    open_actions: Mapping[str, Sequence[Action]],
    reviewed_here: Iterable[str],
) -> list[AgendaItem]:
    """One item per child, its reasons in agenda order; the watchlist's order first,
    then the children each later reason adds."""
    items: dict[str, AgendaItem] = {}
    for reason in REASON_TEXT:
        for child_id in by_reason.get(reason, ()):
            label = labels.get(child_id, ChildLabel(child_id, None, None))
            item = items.setdefault(child_id, AgendaItem(label))
            if reason not in item.reasons:
                item.reasons.append(reason)
    here = set(reviewed_here)
    for child_id, item in items.items():
        item.last_review = last_reviews.get(child_id)
        item.actions = list(open_actions.get(child_id, ()))
        item.reviewed_here = child_id in here
    return list(items.values())
