"""The notifier's record of dead letters on the routing path and of the notices sent
about them (``notifier_dead_letters``; services/notifier/operations.py uses it). Keyed by
letter id, so storing a letter or its retry twice changes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifier.dead_letter_notices import NOTICE_EVERY, DeadLetterSummary
from services.notifier.tables import dead_letters

CLAIM = timedelta(minutes=5)  # a copy sending a notice holds it this long at most
_BATCH = 20


async def record_letter(session: AsyncSession, letter: DeadLetterSummary, now: datetime) -> int:
    """Store a letter, its first notice due at once; 1 when it is new, else 0."""
    known = (
        await session.execute(
            select(dead_letters.c.topic, dead_letters.c.failed_at).where(
                dead_letters.c.letter_id == letter.letter_id
            )
        )
    ).first()
    details = {
        "topic": letter.topic,
        "consumer": letter.consumer,
        "reason": letter.reason,
        "failed_at": letter.failed_at,
    }
    if known is None:
        await session.execute(
            dead_letters.insert().values(
                letter_id=letter.letter_id, seen_at=now, notice_due_at=now, **details
            )
        )
        return 1
    if known.topic is None:  # its retry was read first: stored resolved, told nobody
        await session.execute(
            update(dead_letters)
            .where(dead_letters.c.letter_id == letter.letter_id)
            .values(**details)
        )
        return 0
    if known.failed_at != letter.failed_at:
        # The same place holds another letter: a broker that kept nothing across a
        # restart (the embedded one) numbers its offsets afresh.
        await session.execute(
            update(dead_letters)
            .where(dead_letters.c.letter_id == letter.letter_id)
            .values(
                **details,
                seen_at=now,
                resolved_at=None,
                notices_sent=0,
                notice_due_at=now,
                last_notice_at=None,
                claimed_until=None,
            )
        )
        return 1
    return 0


async def record_retry(
    session: AsyncSession, letter_id: str, retried_at: datetime, now: datetime
) -> None:
    """``relay dlq retry`` sent the letter back: no more notices."""
    known = (
        await session.execute(
            select(dead_letters.c.resolved_at).where(dead_letters.c.letter_id == letter_id)
        )
    ).first()
    if known is None:
        await session.execute(
            dead_letters.insert().values(letter_id=letter_id, seen_at=now, resolved_at=retried_at)
        )
    elif known.resolved_at is None:
        await session.execute(
            update(dead_letters)
            .where(dead_letters.c.letter_id == letter_id)
            .values(resolved_at=retried_at, claimed_until=None)
        )


def _claimable(now: datetime) -> Any:
    return or_(dead_letters.c.claimed_until.is_(None), dead_letters.c.claimed_until < now)


async def claim_due(
    session: AsyncSession, now: datetime, limit: int = _BATCH
) -> list[tuple[DeadLetterSummary, int]]:
    """The unresolved letters whose notice is due, each with its notice's number, claimed
    for this copy (another copy's claim is left alone until it lapses)."""
    rows = (
        await session.execute(
            select(dead_letters)
            .where(
                dead_letters.c.topic.is_not(None),
                dead_letters.c.resolved_at.is_(None),
                dead_letters.c.notice_due_at <= now,
                _claimable(now),
            )
            .order_by(dead_letters.c.notice_due_at)
            .limit(limit)
        )
    ).all()
    claimed = []
    for row in rows:
        taken = await session.execute(
            update(dead_letters)
            .where(dead_letters.c.letter_id == row.letter_id, _claimable(now))
            .values(claimed_until=now + CLAIM)
        )
        if int(getattr(taken, "rowcount", 0) or 0) == 1:
            letter = DeadLetterSummary(
                row.letter_id, row.topic, row.consumer or "", row.reason or "", row.failed_at
            )
            claimed.append((letter, row.notices_sent + 1))
    return claimed


async def record_notice(
    session: AsyncSession, letter_id: str, number: int, sent_at: datetime
) -> None:
    await session.execute(
        update(dead_letters)
        .where(dead_letters.c.letter_id == letter_id)
        .values(
            notices_sent=number,
            last_notice_at=sent_at,
            notice_due_at=sent_at + NOTICE_EVERY,
            claimed_until=None,
        )
    )


async def release(session: AsyncSession, letter_id: str, retry_at: datetime) -> None:
    await session.execute(
        update(dead_letters)
        .where(dead_letters.c.letter_id == letter_id)
        .values(notice_due_at=retry_at, claimed_until=None)
    )
