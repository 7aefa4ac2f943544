"""The router's person index over an AsyncSession (issue 20): every episode linked to a
``child_id`` (services/router/identity.py decides which), links moved by reviews, merges
and splits, each move published on ``child-identities.v1`` with the episode's next
revision. No child's details are ever logged here: ids only. The evidence an episode is
linked by is services/router/person_evidence.py; merges, splits and same-child reviews
are services/router/person_moves.py."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.base import derived_id
from schemas.child_identity import ChildIdentityV1, LinkBasis
from schemas.episode import EpisodeEventV1, EventType
from schemas.messages import (
    IdentityCandidateV1,
    IdentityReviewV1,
)
from services.router.blocking import roll_key_values
from services.router.identity import (
    Candidate,
    LinkDecision,
    link_child,
)
from services.router.matching import MatchDecision
from services.router.model import MatchingModel
from services.router.names import normalise_name
from services.router.outgoing import summaries
from services.router.person_evidence import evidence, matched_records, sole_candidates
from services.router.routing_store import Linked
from services.router.tables import (
    child_reviews,
    episodes,
    person_episodes,
    person_roll_links,
)
from services.router.weights import BASELINE
from services.runtime import conflicts, on_connection, prepared
from services.runtime.prepared import hot

P = person_episodes
ANNOUNCE_BATCH = 500


def new_child_id(force_code: str, episode_ref: str) -> str:
    """The child an episode starts when it links to nobody: derived from the episode, so a
    replayed event makes the same child."""
    return derived_id("child", "episode", force_code, episode_ref)


_EPISODE_ROW = select(P).where(
    P.c.force_code == bindparam("force_code"), P.c.episode_ref == bindparam("episode_ref")
)


async def episode_row(session: AsyncSession, force_code: str, episode_ref: str) -> Any:
    params = {"force_code": force_code, "episode_ref": episode_ref}
    return (await session.execute(_EPISODE_ROW, params)).first()


async def child_of(session: AsyncSession, force_code: str, episode_ref: str) -> str | None:
    row = await episode_row(session, force_code, episode_ref)
    return row.child_id if row is not None else None


@functools.cache
def _link_upsert(dialect: str) -> Any:
    """A roll link inserted, or an existing one made sure by a sure one (a sole-candidate
    link never weakens a sure one): one statement where a SELECT and an INSERT or UPDATE
    were two (issue 18). Built once per dialect; the links go as parameters."""
    statement = conflicts.dialect_insert(dialect, person_roll_links)
    return hot(
        statement.on_conflict_do_update(
            index_elements=[c.name for c in person_roll_links.primary_key.columns],
            set_={"sure": True},
            where=statement.excluded.sure.is_(True),
        )
    )


async def add_roll_links(
    session: AsyncSession,
    force_code: str,
    episode_ref: str,
    records: Iterable[tuple[str, str]],
    sure: bool = True,
) -> None:
    """Link the episode to roll records; a sure link replaces a sole-candidate one."""
    links = [(*r, sure) for r in records]
    await on_connection.run(session, _upsert_links, force_code, episode_ref, links)


def _upsert_links(
    connection: Connection,
    force_code: str,
    episode_ref: str,
    links: Iterable[tuple[str, str, bool]],
) -> None:
    """Links (org code, record id, sure) in one statement; a record given twice is
    sure when either says so (a statement may not change one row twice)."""
    merged: dict[tuple[str, str], bool] = {}
    for org_code, record_id, sure in links:
        merged[(org_code, record_id)] = merged.get((org_code, record_id), False) or sure
    rows = [
        {
            "org_code": org_code,
            "record_id": record_id,
            "force_code": force_code,
            "episode_ref": episode_ref,
            "sure": sure,
        }
        for (org_code, record_id), sure in merged.items()
    ]
    if rows:
        statement = _link_upsert(connection.dialect.name)
        if len(rows) > 1:
            prepared.execute_many(connection, statement, rows)
        else:
            prepared.execute(connection, statement, rows[0])


def announcement(
    row_values: dict[str, Any],
    now: datetime,
    previous: str | None = None,
    change_id: str | None = None,
    by: str | None = None,
) -> ChildIdentityV1:
    return ChildIdentityV1(
        message_id=ChildIdentityV1.id_for(
            row_values["force_code"], row_values["episode_ref"], row_values["revision"]
        ),
        child_id=row_values["child_id"],
        force_code=row_values["force_code"],
        episode_ref=row_values["episode_ref"],
        revision=row_values["revision"],
        basis=LinkBasis(row_values["basis"]),
        previous_child_id=previous,
        change_id=change_id,
        changed_by=by,
        at=now,
    )


async def link_episode(
    session: AsyncSession,
    event: EpisodeEventV1,
    decisions: Sequence[MatchDecision],
    now: datetime,
    model: MatchingModel = BASELINE,
) -> Linked:
    """The child of ``event``'s episode: the one it has (later events add identifiers and
    roll links, never move it), or one :func:`link_child` decides for its first event,
    comparing records with ``model`` (the router's, as for its roll matching). Its
    statements go in one hand-over to the session's synchronous side (issue 18)."""
    return await on_connection.run(session, _link_episode, event, decisions, now, model)


def _link_episode(
    connection: Connection,
    event: EpisodeEventV1,
    decisions: Sequence[MatchDecision],
    now: datetime,
    model: MatchingModel,
) -> Linked:
    child = event.child
    matched = matched_records(decisions)
    known = _touch(connection, event, now)
    if known is not None:
        _link_rolls(connection, event, decisions)
        return Linked(known)
    found = evidence(connection, event, matched, sole_candidates(decisions))
    decision = link_child(child, event.force_code, found, model)
    child_id = decision.child_id or new_child_id(event.force_code, event.episode_ref)
    keys = roll_key_values(
        child.given_name, child.family_name, child.date_of_birth.isoformat(), child.postcode
    )
    values = {
        "force_code": event.force_code,
        "episode_ref": event.episode_ref,
        "child_id": child_id,
        "revision": 1,
        "announced": 1,
        "basis": decision.basis.value,
        "given_name": child.given_name,
        "family_name": child.family_name,
        "date_of_birth": child.date_of_birth,
        "sex": child.sex,
        "postcode": child.postcode,
        "address": child.address,
        "nhs_number": child.nhs_number,
        "upn": child.upn,
        "police_person_id": child.police_person_id,
        "norm_given": normalise_name(child.given_name),
        "norm_family": normalise_name(child.family_name),
        "key_family_dob": keys[0],
        "key_names": keys[1],
        "key_place": keys[2],
        "key_given_dob": keys[3],
        "withdrawn": event.type is EventType.WITHDRAWN,
        "first_seen_at": now,
        "updated_at": now,
        "last_event_at": event.occurred_at,
    }
    prepared.execute(connection, _INSERT_EPISODE, values)
    _link_rolls(connection, event, decisions)
    review = _ask(connection, event, child_id, decision, now) if decision.review else None
    return Linked(child_id, (announcement(values, now),), review)


def _touch_statement(withdrawn: bool) -> Any:
    kept = {
        # Identifiers a later event gives and the first did not (a falsy one goes as NULL).
        name: func.coalesce(P.c[name], bindparam(f"b_{name}", type_=P.c[name].type))
        for name in ("nhs_number", "upn", "police_person_id")
    }
    occurred = bindparam("b_occurred", type_=P.c.last_event_at.type)
    latest = case(
        (or_(P.c.last_event_at.is_(None), P.c.last_event_at < occurred), occurred),
        else_=P.c.last_event_at,
    )
    statement = (
        update(P)
        .where(P.c.force_code == bindparam("k_force"), P.c.episode_ref == bindparam("k_ref"))
        .values(**kept, last_event_at=latest)
        .returning(P.c.child_id)
    )
    if withdrawn:
        statement = statement.values(
            withdrawn=True, updated_at=bindparam("b_now", type_=P.c.updated_at.type)
        )
    return statement


# Built once, their values as parameters, and run on the driver (services/runtime/prepared.py).
_INSERT_EPISODE = hot(P.insert())

# A known episode's later event, in one statement (issue 18: a SELECT of the row, then
# an UPDATE when something changed): the identifiers it adds, the time of its latest
# event (which retention goes by), withdrawn for a ``withdrawn``; its child comes back.
_TOUCH = hot(_touch_statement(withdrawn=False))
_TOUCH_WITHDRAWN = hot(_touch_statement(withdrawn=True))


def _touch(connection: Connection, event: EpisodeEventV1, now: datetime) -> str | None:
    """The child of ``event``'s episode, updated for the event; None for a new episode."""
    child = event.child
    params: dict[str, Any] = {
        "k_force": event.force_code,
        "k_ref": event.episode_ref,
        "b_nhs_number": child.nhs_number or None,
        "b_upn": child.upn or None,
        "b_police_person_id": child.police_person_id or None,
        "b_occurred": event.occurred_at,
    }
    withdrawn = event.type is EventType.WITHDRAWN
    if withdrawn:
        params["b_now"] = now
    found = prepared.execute(connection, _TOUCH_WITHDRAWN if withdrawn else _TOUCH, params).scalar()
    return None if found is None else str(found)


def _link_rolls(
    connection: Connection, event: EpisodeEventV1, decisions: Sequence[MatchDecision]
) -> None:
    links = [(*r, True) for r in matched_records(decisions)]
    links += [(*r, False) for r in sole_candidates(decisions)]
    _upsert_links(connection, event.force_code, event.episode_ref, links)


def review_id_for(event: EpisodeEventV1) -> str:
    return derived_id(event.message_id, "same-child", "review")


def _ask(
    connection: Connection,
    event: EpisodeEventV1,
    child_id: str,
    decision: LinkDecision,
    now: datetime,
) -> IdentityReviewV1 | None:
    """ "The same child as …?": a review of the doubtful candidates, held here until a
    person decides (a replayed event finds it held and asks nothing new)."""
    review_id = review_id_for(event)
    if connection.execute(
        select(child_reviews.c.review_id).where(child_reviews.c.review_id == review_id)
    ).scalar():
        return None
    candidates = [c for c in decision.review if c.child_id != child_id]
    if not candidates:
        return None
    connection.execute(
        child_reviews.insert().values(
            review_id=review_id,
            force_code=event.force_code,
            episode_ref=event.episode_ref,
            child_id=child_id,
            candidates=[c.child_id for c in candidates],
            state="pending",
            created_at=now,
        )
    )
    child, episode = summaries(event)
    return IdentityReviewV1(
        message_id=review_id,
        review_id=review_id,
        question="same-child",
        child_id=child_id,
        episode=episode,
        child=child,
        candidates=[_candidate_message(c) for c in candidates],
        requested_at=now,
    )


def _candidate_message(c: Candidate) -> IdentityCandidateV1:
    r = c.record
    return IdentityCandidateV1(
        child_id=c.child_id,
        score=c.score,
        explanation=dict(c.explanation),
        given_name=r.given_name,
        family_name=r.family_name,
        date_of_birth=r.date_of_birth,
        postcode=r.postcode,
        episodes=c.episodes,
        latest_episode_ref=f"{r.force_code}/{r.episode_ref}",
    )


_REPORTED_HISTORY = hot(
    select(
        episodes.c.reported_at,
        episodes.c.force_code,
        episodes.c.episode_ref,
        episodes.c.repeat_flagged,
    )
    .select_from(
        episodes.join(
            P,
            and_(
                P.c.force_code == episodes.c.force_code,
                P.c.episode_ref == episodes.c.episode_ref,
            ),
        )
    )
    .where(P.c.child_id == bindparam("child_id"))
)


async def reported_history(
    session: AsyncSession, child_id: str, force_code: str, episode_ref: str
) -> tuple[list[datetime], bool]:
    """When the child's episodes were reported, and whether this episode was already
    flagged as repeat missing."""
    rows = (await session.execute(_REPORTED_HISTORY, {"child_id": child_id})).all()
    flagged = any(
        r.repeat_flagged for r in rows if (r.force_code, r.episode_ref) == (force_code, episode_ref)
    )
    return [r.reported_at for r in rows], flagged


async def unannounced(session: AsyncSession, limit: int = ANNOUNCE_BATCH) -> list[ChildIdentityV1]:
    """Links not yet published (episodes migrated from before the index), marked as
    published: the caller publishes them in the same transaction."""
    rows = (
        await session.execute(
            select(P)
            .where(P.c.announced < P.c.revision)
            .order_by(P.c.force_code, P.c.episode_ref)
            .limit(limit)
        )
    ).all()
    out = []
    for row in rows:
        await session.execute(
            update(P)
            .where(P.c.force_code == row.force_code, P.c.episode_ref == row.episode_ref)
            .values(announced=row.revision)
        )
        out.append(announcement(dict(row._mapping), row.updated_at))
    return out
