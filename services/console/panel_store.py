"""The MSET panel's records over an AsyncSession (issue 20): meetings, each child's
decisions and actions, and what the agenda is built from. Values come back typed
(services/console/panel.py); the pages hold no SQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.base import derived_id
from schemas.episode import EXPLOITATION_FACTORS
from schemas.panel import PanelActionState, PanelActionV1
from services.console import repository
from services.console.panel import (
    Action,
    ChildLabel,
    ChildReview,
    Meeting,
    NewAction,
    NewMeeting,
    ReviewRecord,
)
from services.console.rhi_rows import OPEN_RHI_STATES
from services.console.tables import (
    episodes,
    panel_actions,
    panel_meetings,
    panel_reviews,
    rhi_tasks,
)

# Without an earlier meeting, "new since the last meeting" looks back this far.
FIRST_LOOK_BACK = timedelta(days=31)


def _meeting(row: Any) -> Meeting:
    return Meeting(
        row.meeting_id,
        row.held_on,
        row.chair,
        tuple(json.loads(row.organisations)),
        row.created_by,
    )


def _action(row: Any) -> Action:
    return Action(
        row.action_id,
        row.meeting_id,
        row.child_id,
        row.text,
        row.owner_code,
        row.due_on,
        row.state,
        row.revision,
        row.done_at,
        row.done_by,
    )


async def meetings(session: AsyncSession, limit: int = 50) -> list[Meeting]:
    rows = await session.execute(
        select(panel_meetings)
        .order_by(panel_meetings.c.held_on.desc(), panel_meetings.c.created_at.desc())
        .limit(limit)
    )
    return [_meeting(r) for r in rows]


async def meeting(session: AsyncSession, meeting_id: str) -> Meeting | None:
    row = (
        await session.execute(
            select(panel_meetings).where(panel_meetings.c.meeting_id == meeting_id)
        )
    ).first()
    return _meeting(row) if row is not None else None


async def add_meeting(
    session: AsyncSession, new: NewMeeting, created_by: str, now: datetime
) -> Meeting:
    meeting_id = str(uuid.uuid4())
    await session.execute(
        panel_meetings.insert().values(
            meeting_id=meeting_id,
            held_on=new.held_on,
            chair=new.chair,
            organisations=json.dumps(list(new.organisations)),
            created_by=created_by,
            created_at=now,
        )
    )
    return Meeting(meeting_id, new.held_on, new.chair, new.organisations, created_by)


async def previous_meeting_on(session: AsyncSession, m: Meeting) -> date | None:
    return await session.scalar(
        select(func.max(panel_meetings.c.held_on)).where(
            panel_meetings.c.held_on < m.held_on, panel_meetings.c.meeting_id != m.meeting_id
        )
    )


def _review(row: Any) -> ChildReview:
    return ChildReview(
        row.meeting_id,
        row.held_on,
        row.child_id,
        row.decision,
        row.risk_view,
        row.next_review_on,
        row.recorded_by,
        row.recorded_at,
    )


def _reviews_query() -> Any:
    return select(panel_reviews, panel_meetings.c.held_on).join(
        panel_meetings, panel_meetings.c.meeting_id == panel_reviews.c.meeting_id
    )


async def last_reviews(session: AsyncSession, child_ids: Iterable[str]) -> dict[str, ChildReview]:
    """Each child's latest decision (the latest meeting's)."""
    ids = sorted(set(child_ids))
    if not ids:
        return {}
    rows = await session.execute(
        _reviews_query()
        .where(panel_reviews.c.child_id.in_(ids))
        .order_by(panel_meetings.c.held_on, panel_reviews.c.recorded_at)
    )
    return {r.child_id: _review(r) for r in rows}  # the latest wins


async def reviews_of(session: AsyncSession, child_id: str) -> list[ChildReview]:
    rows = await session.execute(
        _reviews_query()
        .where(panel_reviews.c.child_id == child_id)
        .order_by(panel_meetings.c.held_on.desc(), panel_reviews.c.recorded_at.desc())
    )
    return [_review(r) for r in rows]


async def reviewed_at(session: AsyncSession, meeting_id: str) -> set[str]:
    rows = await session.scalars(
        select(panel_reviews.c.child_id).where(panel_reviews.c.meeting_id == meeting_id)
    )
    return set(rows.all())


async def open_actions(session: AsyncSession, child_ids: Iterable[str]) -> dict[str, list[Action]]:
    ids = sorted(set(child_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(panel_actions)
        .where(panel_actions.c.child_id.in_(ids), panel_actions.c.state == "open")
        .order_by(panel_actions.c.due_on, panel_actions.c.created_at)
    )
    out: dict[str, list[Action]] = {}
    for r in rows:
        out.setdefault(r.child_id, []).append(_action(r))
    return out


async def actions_of(session: AsyncSession, child_id: str) -> list[Action]:
    rows = await session.execute(
        select(panel_actions)
        .where(panel_actions.c.child_id == child_id)
        .order_by(panel_actions.c.due_on, panel_actions.c.created_at)
    )
    return [_action(r) for r in rows]


async def action(session: AsyncSession, action_id: str) -> Action | None:
    row = (
        await session.execute(select(panel_actions).where(panel_actions.c.action_id == action_id))
    ).first()
    return _action(row) if row is not None else None


async def overdue_actions(session: AsyncSession, today: date) -> list[Action]:
    rows = await session.execute(
        select(panel_actions)
        .where(panel_actions.c.state == "open", panel_actions.c.due_on < today)
        .order_by(panel_actions.c.due_on, panel_actions.c.created_at)
    )
    return [_action(r) for r in rows]


async def actions_due_by(session: AsyncSession, day: date) -> list[str]:
    """Children with an open action due on or before ``day``."""
    rows = await session.scalars(
        select(panel_actions.c.child_id)
        .where(panel_actions.c.state == "open", panel_actions.c.due_on <= day)
        .group_by(panel_actions.c.child_id)
        .order_by(func.min(panel_actions.c.due_on))
    )
    return list(rows.all())


async def record_review(
    session: AsyncSession,
    m: Meeting,
    child_id: str,
    record: ReviewRecord,
    by: str,
    now: datetime,
) -> tuple[list[Action], list[Action]]:
    """The meeting's decision about the child (replacing one recorded before at the same
    meeting), its new actions and the actions marked done: (new, done)."""
    await repository.upsert(
        session,
        panel_reviews,
        {
            "review_id": derived_id("panel-review", m.meeting_id, child_id),
            "meeting_id": m.meeting_id,
            "child_id": child_id,
            "decision": record.decision,
            "risk_view": record.risk_view,
            "next_review_on": record.next_review_on,
            "recorded_by": by,
            "recorded_at": now,
        },
    )
    new = [await _add_action(session, m, child_id, a, by, now) for a in record.actions]
    done = [a for a in [await complete(session, i, by, now) for i in record.done] if a]
    return new, done


async def _add_action(
    session: AsyncSession, m: Meeting, child_id: str, new: NewAction, by: str, now: datetime
) -> Action:
    action_id = str(uuid.uuid4())
    await session.execute(
        panel_actions.insert().values(
            action_id=action_id,
            meeting_id=m.meeting_id,
            child_id=child_id,
            text=new.text,
            owner_code=new.owner_code,
            due_on=new.due_on,
            state="open",
            revision=1,
            created_by=by,
            created_at=now,
        )
    )
    return Action(
        action_id, m.meeting_id, child_id, new.text, new.owner_code, new.due_on, "open", 1
    )


async def _move(
    session: AsyncSession, action_id: str, src: str, dst: str, by: str | None, at: datetime | None
) -> Action | None:
    """Move an action from state ``src`` to ``dst`` as its next revision (None: no such
    action in ``src``)."""
    found = await action(session, action_id)
    if found is None or found.state != src:
        return None
    await session.execute(
        update(panel_actions)
        .where(panel_actions.c.action_id == action_id)
        .values(state=dst, revision=found.revision + 1, done_by=by, done_at=at)
    )
    return await action(session, action_id)


async def complete(session: AsyncSession, action_id: str, by: str, now: datetime) -> Action | None:
    """Mark an open action done (None: no such open action)."""
    return await _move(session, action_id, "open", "done", by, now)


async def change(session: AsyncSession, a: Action, to: NewAction) -> Action:
    """The chair changed the action's text, owner or due date: its next revision (the
    notifier chases the new owner and date)."""
    await session.execute(
        update(panel_actions)
        .where(panel_actions.c.action_id == a.action_id)
        .values(text=to.text, owner_code=to.owner_code, due_on=to.due_on, revision=a.revision + 1)
    )
    changed = await action(session, a.action_id)
    assert changed is not None
    return changed


async def reopen(session: AsyncSession, action_id: str) -> Action | None:
    """Open a done action again (None: no such done action)."""
    return await _move(session, action_id, "done", "open", None, None)


async def meeting_on(session: AsyncSession, meeting_id: str) -> date | None:
    return await session.scalar(
        select(panel_meetings.c.held_on).where(panel_meetings.c.meeting_id == meeting_id)
    )


def action_message(a: Action, meeting_on: date, owner_name: str, now: datetime) -> PanelActionV1:
    """What the notifier needs to chase the action: no text, no child."""
    return PanelActionV1(
        message_id=PanelActionV1.id_for(a.action_id, a.revision),
        action_id=a.action_id,
        meeting_id=a.meeting_id,
        meeting_on=meeting_on,
        owner_code=a.owner_code,
        owner_name=owner_name[:300],
        due_on=a.due_on,
        state=PanelActionState(a.state),
        revision=a.revision,
        changed_at=now,
    )


# --- what the agenda is built from -----------------------------------------------------


async def high_risk_since(session: AsyncSession, since: datetime, until: datetime) -> list[str]:
    """Children with an episode reported in [since, until) graded high or with an
    exploitation factor (not withdrawn)."""
    factor = or_(*(episodes.c.risk_factors.like(f"%{f}%") for f in sorted(EXPLOITATION_FACTORS)))
    rows = await session.scalars(
        select(episodes.c.child_id)
        .where(
            episodes.c.first_event_at >= since,
            episodes.c.first_event_at < until,
            episodes.c.child_id.is_not(None),
            episodes.c.withdrawn_at.is_(None),
            or_(episodes.c.risk_grade == "high", factor),
        )
        .group_by(episodes.c.child_id)
        .order_by(func.max(episodes.c.first_event_at).desc())
    )
    return list(rows.all())


async def overdue_rhi(session: AsyncSession, now: datetime) -> list[str]:
    """Children with a return home interview still open past its due time."""
    rows = await session.scalars(
        select(episodes.c.child_id)
        .select_from(rhi_tasks.join(episodes, episodes.c.episode_key == rhi_tasks.c.episode_key))
        .where(
            rhi_tasks.c.due_at < now,
            or_(rhi_tasks.c.state.is_(None), rhi_tasks.c.state.in_(sorted(OPEN_RHI_STATES))),
            episodes.c.child_id.is_not(None),
            episodes.c.withdrawn_at.is_(None),
        )
        .group_by(episodes.c.child_id)
        .order_by(func.min(rhi_tasks.c.due_at))
    )
    return list(rows.all())


async def labels(session: AsyncSession, child_ids: Sequence[str]) -> dict[str, ChildLabel]:
    """Initials and year of birth of each child (their latest episode's)."""
    ids = sorted(set(child_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(episodes.c.child_id, episodes.c.initials, episodes.c.birth_year)
        .where(episodes.c.child_id.in_(ids))
        .order_by(episodes.c.latest_event_at)
    )
    return {r.child_id: ChildLabel(r.child_id, r.initials, r.birth_year) for r in rows}
