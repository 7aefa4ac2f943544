"""Moves in the person index (issue 20): a person's answer to "the same child as …?",
merges and splits, each episode moved with its next revision and announced on
``child-identities.v1`` (queries over an AsyncSession). Ids only in any message here."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.child_identity import ChildIdentityChangeV1, ChildIdentityV1, LinkBasis
from schemas.messages import IdentityDecisionV1
from services.router.identity import same_date_of_birth
from services.router.person_index import P, announcement, child_of, episode_row
from services.router.tables import child_changes, child_reviews

log = logging.getLogger(__name__)


class RefusedChangeError(ValueError):
    """A merge, split or review decision that cannot apply; the message says why."""


async def _move(
    session: AsyncSession,
    keys: Sequence[tuple[str, str]],
    to_child: str,
    basis: LinkBasis,
    change_id: str,
    by: str,
    now: datetime,
) -> list[ChildIdentityV1]:
    """Move episodes to ``to_child``, each with its next revision, announced."""
    out = []
    for force_code, episode_ref in keys:
        row = await episode_row(session, force_code, episode_ref)
        if row is None or row.child_id == to_child:
            continue
        values = {
            "force_code": force_code,
            "episode_ref": episode_ref,
            "child_id": to_child,
            "revision": row.revision + 1,
            "basis": basis.value,
        }
        await session.execute(
            update(P)
            .where(P.c.force_code == force_code, P.c.episode_ref == episode_ref)
            .values(
                child_id=to_child,
                revision=row.revision + 1,
                announced=row.revision + 1,
                basis=basis.value,
                updated_at=now,
            )
        )
        out.append(announcement(values, now, row.child_id, change_id, by))
    return out


async def _episodes_of(session: AsyncSession, child_id: str) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(P.c.force_code, P.c.episode_ref)
        .where(P.c.child_id == child_id)
        .order_by(P.c.first_seen_at, P.c.force_code, P.c.episode_ref)
    )
    return [(f, e) for f, e in rows]


async def _dates_of_birth(session: AsyncSession, child_id: str) -> list[date | None]:
    rows = await session.execute(
        select(P.c.date_of_birth).where(P.c.child_id == child_id).distinct()
    )
    return [d for (d,) in rows]


async def _applied(session: AsyncSession, change_id: str) -> bool:
    return (
        await session.scalar(
            select(child_changes.c.change_id).where(child_changes.c.change_id == change_id)
        )
    ) is not None


async def _remember(
    session: AsyncSession,
    change_id: str,
    action: str,
    child_id: str,
    into: str,
    moved: int,
    by: str,
    now: datetime,
) -> None:
    await session.execute(
        child_changes.insert().values(
            change_id=change_id,
            action=action,
            child_id=child_id,
            into_child_id=into,
            episodes=moved,
            requested_by=by[:200],
            applied_at=now,
        )
    )


async def merge(
    session: AsyncSession,
    child_id: str,
    into: str,
    change_id: str,
    by: str,
    now: datetime,
    confirmed_dates: bool,
    basis: LinkBasis = LinkBasis.MERGED,
) -> list[ChildIdentityV1]:
    """Every episode of ``child_id`` becomes ``into``'s. Refused (``RefusedChangeError``)
    into itself, for a child with no episode, or across different dates of birth unless
    ``confirmed_dates``. Applied once per ``change_id``."""
    if await _applied(session, change_id):
        return []
    if child_id == into:
        raise RefusedChangeError("a child cannot be merged into itself")
    moving = await _episodes_of(session, child_id)
    if not moving:
        raise RefusedChangeError(f"child {child_id} has no episode (merged already?)")
    if not await _episodes_of(session, into):
        raise RefusedChangeError(f"child {into} has no episode")
    if not confirmed_dates and not same_date_of_birth(
        await _dates_of_birth(session, child_id), await _dates_of_birth(session, into)
    ):
        raise RefusedChangeError(
            "the two children have different dates of birth: confirm the merge explicitly"
        )
    moved = await _move(session, moving, into, basis, change_id, by, now)
    await _remember(session, change_id, "merge", child_id, into, len(moved), by, now)
    return moved


async def split(
    session: AsyncSession, change: ChildIdentityChangeV1, now: datetime
) -> list[ChildIdentityV1]:
    """The named episodes of ``change.child_id`` become a new child. Refused when one
    is not that child's, or when it would take every episode (nothing to split from)."""
    if await _applied(session, change.change_id):
        return []
    keys = [(e.force_code, e.episode_ref) for e in change.episodes]
    theirs = set(await _episodes_of(session, change.child_id))
    strangers = [f"{f}/{e}" for f, e in keys if (f, e) not in theirs]
    if strangers:
        raise RefusedChangeError(
            f"episode(s) {', '.join(strangers)} are not child {change.child_id}'s"
        )
    if set(keys) >= theirs:
        raise RefusedChangeError("a split must leave the child at least one episode")
    into = change.new_child_id
    moved = await _move(
        session, keys, into, LinkBasis.SPLIT, change.change_id, change.requested_by, now
    )
    await _remember(
        session,
        change.change_id,
        "split",
        change.child_id,
        into,
        len(moved),
        change.requested_by,
        now,
    )
    return moved


async def apply_change(
    session: AsyncSession, change: ChildIdentityChangeV1, now: datetime
) -> list[ChildIdentityV1]:
    if change.action == "merge":
        assert change.into_child_id is not None  # the model checked it
        return await merge(
            session,
            change.child_id,
            change.into_child_id,
            change.change_id,
            change.requested_by,
            now,
            change.confirmed_different_dates_of_birth,
        )
    return await split(session, change, now)


async def is_child_review(session: AsyncSession, review_id: str) -> bool:
    return (
        await session.scalar(
            select(child_reviews.c.review_id).where(child_reviews.c.review_id == review_id)
        )
    ) is not None


async def child_review_refusal(
    session: AsyncSession, review_id: str, decision: str, child_id: str | None
) -> str | None:
    """Why a decision cannot apply to a same-child review (None: it can)."""
    row = (
        await session.execute(select(child_reviews).where(child_reviews.c.review_id == review_id))
    ).first()
    if row is None:
        return f"no same-child review {review_id}"
    if row.state != "pending":
        return f"review {review_id} is already decided ({row.state} by {row.decided_by})"
    if decision == "match" and child_id not in row.candidates:
        return (
            f"review {review_id}: child {child_id} is not one of its candidates "
            f"({', '.join(row.candidates)})"
        )
    if decision == "match" and child_id and not await _episodes_of(session, child_id):
        return (
            f"review {review_id}: child {child_id} has no episode left (removed by retention "
            "after accepted_events_days); decide no-match"
        )
    return None


async def decide_review(
    session: AsyncSession, decision: IdentityDecisionV1, now: datetime
) -> list[ChildIdentityV1]:
    """A person answered "the same child as …?": ``match`` merges the episode's child
    into the chosen earlier child (the person's answer is the confirmation); ``no-match``
    keeps them apart. The first decision stands."""
    row = (
        await session.execute(
            select(child_reviews)
            .where(child_reviews.c.review_id == decision.review_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise RefusedChangeError(f"no same-child review {decision.review_id}")
    if row.state != "pending":
        return []
    moved: list[ChildIdentityV1] = []
    state = "matched" if decision.decision == "match" else "no-match"
    if decision.decision == "match":
        if decision.child_id is None or decision.child_id not in row.candidates:
            raise RefusedChangeError(
                f"review {decision.review_id}: child {decision.child_id} is not a candidate"
            )
        if not await _episodes_of(session, decision.child_id):
            # Retention removed the earlier child's episodes (past accepted_events_days)
            # while the review waited: nothing is left to link to. The review closes as
            # expired; the episode keeps its own child.
            state = "expired"
            log.info(
                "router: same-child review %s: child %s has no episode left (retention); "
                "closed as expired",
                decision.review_id,
                decision.child_id,
            )
        # The episode's child now: a merge or split since the review may have moved it.
        current = await child_of(session, row.force_code, row.episode_ref) or row.child_id
        if state == "matched" and current != decision.child_id:
            moved = await merge(
                session,
                current,
                decision.child_id,
                decision.message_id,
                decision.decided_by,
                now,
                confirmed_dates=True,
                basis=LinkBasis.REVIEWED,
            )
    await session.execute(
        update(child_reviews)
        .where(child_reviews.c.review_id == decision.review_id)
        .values(
            state=state,
            decided_child_id=decision.child_id if state == "matched" else None,
            decided_by=decision.decided_by[:200],
            decided_at=decision.decided_at,
        )
    )
    return moved
