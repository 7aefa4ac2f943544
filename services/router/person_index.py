"""The router's person index over an AsyncSession (issue 20): every episode linked to a
``child_id`` (services/router/identity.py decides which), links moved by reviews, merges
and splits, each move published on ``child-identities.v1`` with the episode's next
revision. No child's details are ever logged here: ids only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from schemas.base import derived_id
from schemas.child_identity import ChildIdentityChangeV1, ChildIdentityV1, LinkBasis
from schemas.episode import EpisodeEventV1, EventType
from schemas.messages import (
    ChildSummaryV1,
    EpisodeRefV1,
    IdentityCandidateV1,
    IdentityDecisionV1,
    IdentityReviewV1,
)
from services.router.blocking import probe_keys, roll_key_values
from services.router.identity import (
    Candidate,
    Evidence,
    LinkDecision,
    PersonRecord,
    link_child,
    same_date_of_birth,
)
from services.router.matching import MatchDecision
from services.router.names import normalise_name
from services.router.tables import (
    child_changes,
    child_reviews,
    episodes,
    person_episodes,
    person_roll_links,
)

P = person_episodes
# The records read of one candidate child: enough to judge it, whatever its history.
RECORDS_PER_CHILD = 50
ANNOUNCE_BATCH = 500


class RefusedChangeError(ValueError):
    """A merge, split or review decision that cannot apply; the message says why."""


@dataclass(frozen=True)
class Linked:
    """An event's episode and its child; what to publish because of it."""

    child_id: str
    announcements: tuple[ChildIdentityV1, ...] = ()
    review: IdentityReviewV1 | None = None


def new_child_id(force_code: str, episode_ref: str) -> str:
    """The child an episode starts when it links to nobody: derived from the episode, so a
    replayed event makes the same child."""
    return derived_id("child", "episode", force_code, episode_ref)


def _record(row: Any) -> PersonRecord:
    return PersonRecord(
        force_code=row.force_code,
        episode_ref=row.episode_ref,
        child_id=row.child_id,
        given_name=row.given_name,
        family_name=row.family_name,
        date_of_birth=row.date_of_birth,
        norm_given=row.norm_given,
        norm_family=row.norm_family,
        sex=row.sex,
        postcode=row.postcode,
        address=row.address,
        nhs_number=row.nhs_number,
        upn=row.upn,
        police_person_id=row.police_person_id,
    )


async def _row(session: AsyncSession, force_code: str, episode_ref: str) -> Any:
    return (
        await session.execute(
            select(P).where(P.c.force_code == force_code, P.c.episode_ref == episode_ref)
        )
    ).first()


async def child_of(session: AsyncSession, force_code: str, episode_ref: str) -> str | None:
    row = await _row(session, force_code, episode_ref)
    return row.child_id if row is not None else None


async def _children_found(session: AsyncSession, *where: Any) -> set[str]:
    rows = await session.execute(
        select(P.c.child_id).where(P.c.withdrawn.is_(False), or_(*where)).distinct().limit(200)
    )
    return {child_id for (child_id,) in rows}


async def records_of(session: AsyncSession, child_ids: Iterable[str]) -> list[PersonRecord]:
    """Every standing record of the children (the latest few per child)."""
    ids = sorted(set(child_ids))
    if not ids:
        return []
    rows = (
        await session.execute(
            select(P)
            .where(P.c.child_id.in_(ids), P.c.withdrawn.is_(False))
            .order_by(P.c.child_id, P.c.first_seen_at.desc())
        )
    ).all()
    kept: dict[str, int] = {}
    out = []
    for row in rows:
        kept[row.child_id] = kept.get(row.child_id, 0) + 1
        if kept[row.child_id] <= RECORDS_PER_CHILD:
            out.append(_record(row))
    return out


async def _children_of_records(
    session: AsyncSession,
    event: EpisodeEventV1,
    records: Sequence[tuple[str, str]],
    sure: bool | None = True,
) -> set[str]:
    """Children of other episodes linked to any of the roll ``records`` (``sure``: by
    the matcher's match or a person; False: as its sole candidate; None: either)."""
    if not records:
        return set()
    links = person_roll_links
    linked = select(links.c.force_code, links.c.episode_ref).where(
        tuple_(links.c.org_code, links.c.record_id).in_(list(records))
    )
    if sure is not None:
        linked = linked.where(links.c.sure.is_(sure))
    other = ~and_(P.c.force_code == event.force_code, P.c.episode_ref == event.episode_ref)
    return await _children_found(
        session, and_(tuple_(P.c.force_code, P.c.episode_ref).in_(linked), other)
    )


async def evidence(
    session: AsyncSession,
    event: EpisodeEventV1,
    roll_matches: Sequence[tuple[str, str]],
    sole_roll_candidates: Sequence[tuple[str, str]] = (),
) -> Evidence:
    """What the index knows that may be this episode's child, by kind of evidence."""
    child = event.child
    other = ~and_(P.c.force_code == event.force_code, P.c.episode_ref == event.episode_ref)
    by_police = (
        await _children_found(
            session,
            and_(
                P.c.force_code == event.force_code,
                P.c.police_person_id == child.police_person_id,
                other,
            ),
        )
        if child.police_person_id
        else set()
    )
    by_nhs = (
        await _children_found(session, and_(P.c.nhs_number == child.nhs_number, other))
        if child.nhs_number
        else set()
    )
    by_roll = await _children_of_records(session, event, roll_matches)
    by_sole: set[str] = set()
    if not (by_police or by_nhs or by_roll):
        # A record one side matched and the other had as its sole candidate.
        by_sole = await _children_of_records(
            session, event, sole_roll_candidates, sure=None
        ) | await _children_of_records(session, event, roll_matches, sure=False)
        if len(by_sole) != 1:
            by_sole = set()  # several children behind the records: no evidence of one
    similar: set[str] = set()
    if not (by_police or by_nhs or by_roll or by_sole):
        probes = probe_keys(
            child.given_name, child.family_name, child.date_of_birth, child.postcode
        )
        conditions: list[ColumnElement[bool]] = [
            P.c[column].in_(sorted(values)) for column, values in probes.items() if values
        ]
        if child.upn:
            conditions.append(P.c.upn == child.upn)
        similar = await _children_found(session, and_(or_(*conditions), other))
    records = await records_of(session, by_police | by_nhs | by_roll | by_sole | similar)
    return Evidence(
        by_police_id=[r for r in records if r.child_id in by_police],
        by_nhs_number=[r for r in records if r.child_id in by_nhs],
        by_roll_record=[r for r in records if r.child_id in by_roll],
        by_sole_roll_candidate=[r for r in records if r.child_id in by_sole],
        similar=[r for r in records if r.child_id in similar],
    )


def _matched_records(decisions: Sequence[MatchDecision]) -> list[tuple[str, str]]:
    return sorted({(d.org_code, d.roll_record_id) for d in decisions if d.decision == "match"})


def sole_candidates(decisions: Sequence[MatchDecision]) -> list[tuple[str, str]]:
    """The roll records the matcher asked a person about on its threshold alone, at
    organisations where that record was the only candidate (no twin, no namesake, no
    identifier in conflict). Empty when the matcher matched anywhere."""
    if any(d.decision == "match" for d in decisions):
        return []
    by_org: dict[str, list[MatchDecision]] = {}
    for d in decisions:
        if d.decision == "review":
            by_org.setdefault(d.org_code, []).append(d)
    return sorted(
        (org, ds[0].roll_record_id)
        for org, ds in by_org.items()
        if len(ds) == 1 and ds[0].explanation.get("rule") == "threshold"
    )


async def add_roll_links(
    session: AsyncSession,
    force_code: str,
    episode_ref: str,
    records: Iterable[tuple[str, str]],
    sure: bool = True,
) -> None:
    """Link the episode to roll records; a sure link replaces a sole-candidate one."""
    for org_code, record_id in records:
        exists = await session.scalar(
            select(person_roll_links.c.org_code).where(
                person_roll_links.c.org_code == org_code,
                person_roll_links.c.record_id == record_id,
                person_roll_links.c.force_code == force_code,
                person_roll_links.c.episode_ref == episode_ref,
            )
        )
        if exists is None:
            await session.execute(
                person_roll_links.insert().values(
                    org_code=org_code,
                    record_id=record_id,
                    force_code=force_code,
                    episode_ref=episode_ref,
                    sure=sure,
                )
            )
        elif sure:
            await session.execute(
                update(person_roll_links)
                .where(
                    person_roll_links.c.org_code == org_code,
                    person_roll_links.c.record_id == record_id,
                    person_roll_links.c.force_code == force_code,
                    person_roll_links.c.episode_ref == episode_ref,
                )
                .values(sure=True)
            )


def _announcement(
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
    session: AsyncSession, event: EpisodeEventV1, decisions: Sequence[MatchDecision], now: datetime
) -> Linked:
    """The child of ``event``'s episode: the one it has (later events add identifiers and
    roll links, never move it), or one :func:`link_child` decides for its first event."""
    child = event.child
    matched = _matched_records(decisions)
    row = await _row(session, event.force_code, event.episode_ref)
    if row is not None:
        await _add_identifiers(session, row, event)
        await _link_rolls(session, event, decisions)
        if event.type is EventType.WITHDRAWN:
            await session.execute(
                update(P)
                .where(P.c.force_code == event.force_code, P.c.episode_ref == event.episode_ref)
                .values(withdrawn=True, updated_at=now)
            )
        return Linked(row.child_id)
    found = await evidence(session, event, matched, sole_candidates(decisions))
    decision = link_child(child, event.force_code, found)
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
    await session.execute(P.insert().values(**values))
    await _link_rolls(session, event, decisions)
    review = await _ask(session, event, child_id, decision, now) if decision.review else None
    return Linked(child_id, (_announcement(values, now),), review)


async def _add_identifiers(session: AsyncSession, row: Any, event: EpisodeEventV1) -> None:
    """Identifiers a later event of the episode gives and the first did not, and the
    time of its latest event (which retention goes by)."""
    child = event.child
    added: dict[str, Any] = {
        name: value
        for name, value in (
            ("nhs_number", child.nhs_number),
            ("upn", child.upn),
            ("police_person_id", child.police_person_id),
        )
        if value and getattr(row, name) is None
    }
    if row.last_event_at is None or event.occurred_at > row.last_event_at:
        added["last_event_at"] = event.occurred_at
    if added:
        await session.execute(
            update(P)
            .where(P.c.force_code == row.force_code, P.c.episode_ref == row.episode_ref)
            .values(**added)
        )


async def _link_rolls(
    session: AsyncSession, event: EpisodeEventV1, decisions: Sequence[MatchDecision]
) -> None:
    ref = (session, event.force_code, event.episode_ref)
    await add_roll_links(*ref, _matched_records(decisions))
    await add_roll_links(*ref, sole_candidates(decisions), sure=False)


def review_id_for(event: EpisodeEventV1) -> str:
    return derived_id(event.message_id, "same-child", "review")


async def _ask(
    session: AsyncSession,
    event: EpisodeEventV1,
    child_id: str,
    decision: LinkDecision,
    now: datetime,
) -> IdentityReviewV1 | None:
    """ "The same child as …?": a review of the doubtful candidates, held here until a
    person decides (a replayed event finds it held and asks nothing new)."""
    review_id = review_id_for(event)
    if await session.scalar(
        select(child_reviews.c.review_id).where(child_reviews.c.review_id == review_id)
    ):
        return None
    candidates = [c for c in decision.review if c.child_id != child_id]
    if not candidates:
        return None
    await session.execute(
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
    return IdentityReviewV1(
        message_id=review_id,
        review_id=review_id,
        question="same-child",
        child_id=child_id,
        episode=EpisodeRefV1(
            force_code=event.force_code,
            episode_ref=event.episode_ref,
            event_id=event.event_id,
            event_message_id=event.message_id,
            event_type=event.type,
            occurred_at=event.occurred_at,
        ),
        child=ChildSummaryV1(
            given_name=event.child.given_name,
            family_name=event.child.family_name,
            date_of_birth=event.child.date_of_birth,
        ),
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


async def reported_history(
    session: AsyncSession, child_id: str, force_code: str, episode_ref: str
) -> tuple[list[datetime], bool]:
    """When the child's episodes were reported, and whether this episode was already
    flagged as repeat missing."""
    rows = (
        await session.execute(
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
            .where(P.c.child_id == child_id)
        )
    ).all()
    flagged = any(
        r.repeat_flagged for r in rows if (r.force_code, r.episode_ref) == (force_code, episode_ref)
    )
    return [r.reported_at for r in rows], flagged


# --- moves: reviews, merges, splits ---------------------------------------------------


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
        row = await _row(session, force_code, episode_ref)
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
        out.append(_announcement(values, now, row.child_id, change_id, by))
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
    if decision.decision == "match":
        if decision.child_id is None or decision.child_id not in row.candidates:
            raise RefusedChangeError(
                f"review {decision.review_id}: child {decision.child_id} is not a candidate"
            )
        # The episode's child now: a merge or split since the review may have moved it.
        current = await child_of(session, row.force_code, row.episode_ref) or row.child_id
        if current != decision.child_id:
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
            state="matched" if decision.decision == "match" else "no-match",
            decided_child_id=decision.child_id if decision.decision == "match" else None,
            decided_by=decision.decided_by[:200],
            decided_at=decision.decided_at,
        )
    )
    return moved


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
        out.append(_announcement(dict(row._mapping), row.updated_at))
    return out
