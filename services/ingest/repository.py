"""Queries over ingest's tables, inside a caller's transaction."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, tuple_, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.episode import EpisodeEventV1
from services.ingest.acceptance import Reject as Reject
from services.ingest.tables import alert_answers, api_keys, episode_alerts, events, rejects
from services.runtime import prepared
from services.runtime.database import Database, utcnow
from services.runtime.prepared import hot
from services.runtime.retention import RetentionPolicy

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Raw payloads of rejects are capped: enough to diagnose, not a storage attack.
MAX_REJECT_PAYLOAD = 256 * 1024


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    force_code: str
    created_at: datetime
    revoked_at: datetime | None


# --- API keys -----------------------------------------------------------------------------


async def add_key(session: AsyncSession, name: str, force_code: str, key_hash: str) -> ApiKey:
    key = ApiKey(str(uuid.uuid4()), name, force_code, utcnow(), None)
    await session.execute(
        api_keys.insert().values(
            id=key.id,
            name=name,
            force_code=force_code,
            key_hash=key_hash,
            created_at=key.created_at,
            revoked_at=None,
        )
    )
    return key


async def active_key(
    session: AsyncSession, key_hash: str, now: datetime | None = None
) -> ApiKey | None:
    """The key with this hash, unless revoked (a rotated key works until its
    ``revoked_at``, which is then in the future)."""
    return await session.run_sync(lambda sync: active_key_on(sync.connection(), key_hash, now))


def active_key_on(
    connection: Connection, key_hash: str, now: datetime | None = None
) -> ApiKey | None:
    """:func:`active_key` on a connection's synchronous side (``Database.run``)."""
    params = {"b_key_hash": key_hash, "b_now": now or utcnow()}
    row = prepared.execute(connection, _ACTIVE_KEY, params).first()
    return _key(row) if row else None


# Statements run for every request or event are built once; values go as parameters.
# Those marked hot run on SQLite's driver (services/runtime/prepared.py, issue 18).
_ACTIVE_KEY = hot(
    select(api_keys).where(
        api_keys.c.key_hash == bindparam("b_key_hash"),
        or_(
            api_keys.c.revoked_at.is_(None),
            api_keys.c.revoked_at > bindparam("b_now", type_=api_keys.c.revoked_at.type),
        ),
    )
)
# Forces and event ids as two IN lists, the pairs picked out in Python: SQLite searches
# the unique index with them, where a row-value IN over a list scanned the whole log
# (one scan a batch, growing with every event accepted).
_SEEN = select(events.c.force_code, events.c.event_id).where(
    events.c.force_code.in_(bindparam("b_forces", expanding=True)),
    events.c.event_id.in_(bindparam("b_event_ids", expanding=True)),
)
# One event (the single-event endpoint): no IN list to expand on every call.
_SEEN_ONE = hot(
    select(events.c.force_code, events.c.event_id).where(
        events.c.force_code == bindparam("b_force_code"),
        events.c.event_id == bindparam("b_event_id"),
    )
)
_ADD_EVENT = hot(events.insert())
# What logging an event the log has already raises: SQLAlchemy's error, or on SQLite,
# where the insert runs on the driver, the driver's own.
DUPLICATE_ERRORS: tuple[type[Exception], ...] = (IntegrityError, sqlite3.IntegrityError)


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    rows = (await session.execute(select(api_keys).order_by(api_keys.c.created_at))).all()
    return [_key(row) for row in rows]


async def revoke_key(session: AsyncSession, key_id: str) -> bool:
    result = await session.execute(
        update(api_keys)
        .where(
            api_keys.c.id == key_id,
            or_(api_keys.c.revoked_at.is_(None), api_keys.c.revoked_at > utcnow()),
        )
        .values(revoked_at=utcnow())
    )
    return bool(getattr(result, "rowcount", 0))


async def rotate_key(
    session: AsyncSession, key_id: str, new_hash: str, grace: timedelta
) -> tuple[ApiKey, ApiKey] | None:
    """A new key for the same force and user as ``key_id``; the old one keeps working
    for ``grace`` (while the police system changes over), then is revoked. None if
    ``key_id`` is not an active key."""
    now = utcnow()
    row = (
        await session.execute(
            select(api_keys).where(
                api_keys.c.id == key_id,
                or_(api_keys.c.revoked_at.is_(None), api_keys.c.revoked_at > now),
            )
        )
    ).first()
    if row is None:
        return None
    new = await add_key(session, row.name, row.force_code, new_hash)
    ends = now + grace
    if row.revoked_at is not None and row.revoked_at < ends:
        ends = row.revoked_at  # already rotated: the earlier end stands
    await session.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=ends))
    return replace(_key(row), revoked_at=ends), new


def _key(row: Any) -> ApiKey:
    return ApiKey(row.id, row.name, row.force_code, row.created_at, row.revoked_at)


# --- the accepted-event log ---------------------------------------------------------------


async def seen(session: AsyncSession, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (force_code, event_id) pairs are already in the log."""
    return await session.run_sync(lambda sync: seen_on(sync.connection(), pairs))


def seen_on(connection: Connection, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """:func:`seen` on a connection's synchronous side (``Database.run``)."""
    wanted = list(dict.fromkeys(pairs))
    if len(wanted) == 1:
        [(force_code, event_id)] = wanted
        one = {"b_force_code": force_code, "b_event_id": event_id}
        rows = prepared.execute(connection, _SEEN_ONE, one)
        return {(row.force_code, row.event_id) for row in rows}
    found: set[tuple[str, str]] = set()
    wanted_set = set(wanted)
    for start in range(0, len(wanted), 500):  # keep the IN list within every backend's limit
        chunk = wanted[start : start + 500]
        params = {
            "b_forces": sorted({force for force, _ in chunk}),
            "b_event_ids": sorted({event_id for _, event_id in chunk}),
        }
        rows = connection.execute(_SEEN, params)
        found.update(
            pair for pair in ((r.force_code, r.event_id) for r in rows) if pair in wanted_set
        )
    return found


async def is_seen(session: AsyncSession, force_code: str, event_id: str) -> bool:
    return (force_code, event_id) in await seen(session, [(force_code, event_id)])


async def add_events(session: AsyncSession, accepted: Iterable[EpisodeEventV1]) -> None:
    await session.run_sync(lambda sync: add_events_on(sync.connection(), accepted))


def add_events_on(connection: Connection, accepted: Iterable[EpisodeEventV1]) -> None:
    """Log ``accepted`` (on a connection's synchronous side: ``Database.run``); one
    the log has already raises one of :data:`DUPLICATE_ERRORS`."""
    rows = [
        {
            "message_id": event.message_id,
            "force_code": event.force_code,
            "event_id": event.event_id,
            "episode_ref": event.episode_ref,
            "type": event.type.value,
            "occurred_at": event.occurred_at,
            "accepted_at": event.accepted_at,
            "payload": event.model_dump_json(),
        }
        for event in accepted
    ]
    if len(rows) == 1:
        prepared.execute(connection, _ADD_EVENT, rows[0])
    elif rows:
        prepared.execute_many(connection, _ADD_EVENT, rows)


async def add_event(session: AsyncSession, event: EpisodeEventV1) -> None:
    await add_events(session, [event])


async def count_events(session: AsyncSession, since: datetime | None = None) -> int:
    query = select(func.count()).select_from(events)
    if since is not None:
        query = query.where(events.c.accepted_at >= since)
    return int(await session.scalar(query) or 0)


async def events_since(
    db: Database, since: datetime | None, page: int = 500
) -> AsyncIterator[tuple[str, str, str]]:
    """``(key, message_id, payload)`` of logged events in accepted order, a page per
    transaction so a long replay holds no transaction open."""
    after: tuple[datetime, str] | None = None
    while True:
        query = select(
            events.c.accepted_at,
            events.c.message_id,
            events.c.force_code,
            events.c.episode_ref,
            events.c.payload,
        )
        if since is not None:
            query = query.where(events.c.accepted_at >= since)
        if after is not None:
            query = query.where(tuple_(events.c.accepted_at, events.c.message_id) > after)
        query = query.order_by(events.c.accepted_at, events.c.message_id).limit(page)
        async with db.transaction() as session:
            rows = (await session.execute(query)).all()
        if not rows:
            return
        for row in rows:
            yield f"{row.force_code}:{row.episode_ref}", row.message_id, row.payload
        after = (rows[-1].accepted_at, rows[-1].message_id)


# --- rejects ------------------------------------------------------------------------------


def storable_text(text: str) -> str:
    """Text any database keeps: NUL (PostgreSQL refuses it) and lone surrogates (not
    UTF-8) become U+FFFD. For a reject's raw payload, which is kept as it came."""
    return _UNSTORABLE.sub("\ufffd", text)


async def add_reject(
    session: AsyncSession,
    *,
    channel: str,
    source: str,
    force_code: str | None,
    event_id: str | None,
    errors: list[dict[str, str]],
    payload: str,
) -> Reject:
    reject = Reject(
        str(uuid.uuid4()), utcnow(), channel, source[:200], force_code, event_id, errors
    )
    await session.execute(
        rejects.insert().values(
            id=reject.id,
            received_at=reject.received_at,
            channel=channel,
            source=reject.source,
            force_code=force_code,
            event_id=event_id,
            errors=json.dumps(errors),
            payload=storable_text(payload[:MAX_REJECT_PAYLOAD]),
        )
    )
    return reject


async def list_rejects(session: AsyncSession, limit: int = 100) -> list[Reject]:
    rows = (
        await session.execute(
            select(
                rejects.c.id,
                rejects.c.received_at,
                rejects.c.channel,
                rejects.c.source,
                rejects.c.force_code,
                rejects.c.event_id,
                rejects.c.errors,
            )
            .order_by(rejects.c.received_at.desc(), rejects.c.id)
            .limit(limit)
        )
    ).all()
    return [
        Reject(
            r.id, r.received_at, r.channel, r.source, r.force_code, r.event_id, json.loads(r.errors)
        )
        for r in rows
    ]


# --- retention ------------------------------------------------------------------------


async def remove_expired(
    session: AsyncSession, policy: RetentionPolicy, now: datetime
) -> dict[str, int]:
    """Retention (services/runtime/retention.py): accepted events and rejects older than
    the policy allows. An event sent again after its record went is accepted again.
    Who-knows rows go by the events' cutoff too, uncounted like the console's read
    model: an alert whose last status is older, an answer given before it."""
    cutoff = policy.cutoff("accepted_events", now)
    gone_events = await session.execute(delete(events).where(events.c.accepted_at < cutoff))
    await session.execute(delete(episode_alerts).where(episode_alerts.c.state_at < cutoff))
    await session.execute(delete(alert_answers).where(alert_answers.c.answered_at < cutoff))
    gone_rejects = await session.execute(
        delete(rejects).where(rejects.c.received_at < policy.cutoff("rejects", now))
    )
    return {
        "accepted_events": int(getattr(gone_events, "rowcount", 0) or 0),
        "rejects": int(getattr(gone_rejects, "rowcount", 0) or 0),
    }
