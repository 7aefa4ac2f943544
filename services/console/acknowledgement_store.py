"""The acknowledgement page's reads and writes: the alert a link names, its
acknowledgement, its answers, and the identity review a disputed roll match opens.
SQL only; the page (services/console/acknowledging.py) decides and publishes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.messages import AlertAnswerV1
from services.console.repository import insert_ignore
from services.console.tables import (
    acknowledgements,
    alert_answers,
    alerts,
    episodes,
    identity_reviews,
)


@dataclass(frozen=True)
class LinkedAlert:
    """The console's row of the alert, as far as it arrived."""

    alert_id: str
    episode_key: str | None = None
    recipient_code: str | None = None
    recipient_kind: str | None = None
    recipient_name: str | None = None
    event_message_id: str | None = None
    roll_record_id: str | None = None

    @property
    def about(self) -> dict[str, Any]:
        """What the page may say about the alert: its police reference and recipient."""
        return {
            "police_ref": self.episode_key.replace(":", "/", 1) if self.episode_key else None,
            "recipient_name": self.recipient_name,
        }


async def alert(session: AsyncSession, alert_id: str) -> LinkedAlert:
    row = (
        await session.execute(
            select(
                alerts.c.episode_key,
                alerts.c.recipient_code,
                alerts.c.recipient_kind,
                alerts.c.recipient_name,
                alerts.c.event_message_id,
                alerts.c.roll_record_id,
            ).where(alerts.c.alert_id == alert_id)
        )
    ).first()
    return LinkedAlert(alert_id, *row) if row is not None else LinkedAlert(alert_id)


async def acknowledged_at(session: AsyncSession, alert_id: str) -> Any:
    return await session.scalar(
        select(acknowledgements.c.acknowledged_at).where(acknowledgements.c.alert_id == alert_id)
    )


async def answers(session: AsyncSession, alert_id: str) -> list[tuple[str, datetime]]:
    """The answers given by the alert's link, ``(answer, answered_at)``, oldest first."""
    rows = await session.execute(
        select(alert_answers.c.answer, alert_answers.c.answered_at)
        .where(alert_answers.c.alert_id == alert_id)
        .order_by(alert_answers.c.answered_at)
    )
    return [(a, at) for a, at in rows]


async def add_acknowledgement(session: AsyncSession, alert_id: str, at: datetime) -> None:
    await session.execute(acknowledgements.insert().values(alert_id=alert_id, acknowledged_at=at))


async def answer_seen(session: AsyncSession, message_id: str) -> bool:
    seen = await session.scalar(
        select(alert_answers.c.message_id).where(alert_answers.c.message_id == message_id)
    )
    return seen is not None


async def add_answer(session: AsyncSession, answer: AlertAnswerV1) -> None:
    await session.execute(
        alert_answers.insert().values(
            message_id=answer.message_id,
            alert_id=answer.alert_id,
            episode_key=f"{answer.force_code}:{answer.episode_ref}",
            recipient_code=answer.recipient_code,
            recipient_name=answer.recipient_name,
            answer=answer.answer.value,
            information=answer.information,
            answered_at=answer.answered_at,
        )
    )


async def child_of_episode(session: AsyncSession, episode_key: str | None) -> Any:
    """The episode's child: ``given_name``, ``family_name``, ``date_of_birth``."""
    return (
        await session.execute(
            select(episodes.c.given_name, episodes.c.family_name, episodes.c.date_of_birth).where(
                episodes.c.episode_key == episode_key
            )
        )
    ).first()


async def add_review(session: AsyncSession, review: dict[str, Any]) -> None:
    """An identity review, unless one of its id is there already."""
    await insert_ignore(session, identity_reviews, review)
