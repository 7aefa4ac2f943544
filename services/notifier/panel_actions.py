"""MSET panel actions the notifier chases (issue 20): kept from ``panel-actions.v1``
(the highest revision wins), each open one due a notice the morning after it falls due
(services/notifier/action_notices.py), sent by a loop from ``due_at`` rows, never from
a sleeping handler. The notice goes to the owner organisation's escalation address, else
its own, as the notifier last sent that organisation an alert; an organisation never
alerted has no address here yet, and its notice is tried again a day later."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.panel import PanelActionState, PanelActionV1
from services.notifier.action_notices import OverdueAction, compose_notice, notice_due_at
from services.notifier.smtp import Mailer
from services.notifier.tables import alerts, panel_actions
from services.runtime.database import Database
from services.runtime.handling import Outbox

log = logging.getLogger(__name__)
CLAIM = timedelta(minutes=5)
NO_ADDRESS_RETRY = timedelta(days=1)
SEND_RETRY = timedelta(minutes=5)
CHECK_EVERY_S = 60.0
T = panel_actions


async def on_panel_action(session: AsyncSession, message: PanelActionV1, out: Outbox) -> None:
    kept = (
        await session.execute(
            select(T.c.revision, T.c.owner_code, T.c.due_on, T.c.state)
            .where(T.c.action_id == message.action_id)
            .with_for_update()
        )
    ).first()
    current = kept.revision if kept is not None else None
    if current is not None and current >= message.revision:
        return  # an older state arriving late
    values: dict[str, Any] = {
        "meeting_on": message.meeting_on,
        "owner_code": message.owner_code,
        "owner_name": message.owner_name,
        "due_on": message.due_on,
        "state": message.state.value,
        "revision": message.revision,
        "notice_due_at": notice_due_at(message.due_on)
        if message.state is PanelActionState.OPEN
        else None,
        "updated_at": message.changed_at,
    }
    if kept is None:
        await session.execute(T.insert().values(action_id=message.action_id, **values))
    else:
        # A notice once sent stays sent (``noticed_at``): marked done, nothing more goes.
        # The chair gave it a new owner or due date, or reopened it: that is a new
        # promise, chased again the morning after its due date.
        if (kept.owner_code, kept.due_on) != (message.owner_code, message.due_on) or (
            kept.state != message.state.value
        ):
            values["noticed_at"] = None
        await session.execute(update(T).where(T.c.action_id == message.action_id).values(**values))
    log.info("notifier: panel action %s %s", message.action_id, message.state.value)


def _claimable(now: datetime) -> Any:
    return or_(T.c.claimed_until.is_(None), T.c.claimed_until < now)


async def claim_due(session: AsyncSession, now: datetime, limit: int = 20) -> list[Any]:
    rows = (
        await session.execute(
            select(T)
            .where(
                T.c.state == PanelActionState.OPEN.value,
                T.c.noticed_at.is_(None),
                T.c.notice_due_at <= now,
                _claimable(now),
            )
            .order_by(T.c.notice_due_at)
            .limit(limit)
        )
    ).all()
    claimed = []
    for row in rows:
        taken = await session.execute(
            update(T)
            .where(T.c.action_id == row.action_id, _claimable(now))
            .values(claimed_until=now + CLAIM)
        )
        if int(getattr(taken, "rowcount", 0) or 0) == 1:
            claimed.append(row)
    return claimed


async def owner_address(session: AsyncSession, owner_code: str) -> str | None:
    """The owner organisation's escalation address, else its own, from its latest alert."""
    row = (
        await session.execute(
            select(alerts.c.recipient_escalation_email, alerts.c.recipient_email)
            .where(alerts.c.recipient_code == owner_code)
            .order_by(alerts.c.created_at.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return row.recipient_escalation_email or row.recipient_email


class PanelActionNotices:
    """Sends the due notices; ``sent`` counts them (for tests)."""

    def __init__(
        self,
        db: Database,
        mailer: Mailer,
        sender: str,
        console_url: str,
        now: Callable[[], datetime],
        check_every_s: float = CHECK_EVERY_S,
    ) -> None:
        self.db = db
        self.mailer = mailer
        self.sender = sender
        self.console_url = console_url
        self.now = now
        self.check_every_s = check_every_s
        self.sent = 0

    async def run_once(self) -> int:
        async with self.db.transaction() as session:
            due = await claim_due(session, self.now())
            addresses = {row.action_id: await owner_address(session, row.owner_code) for row in due}
        sent = 0
        for row in due:
            to = addresses[row.action_id]
            if to is None:
                log.warning(
                    "notifier: panel action %s overdue: no address known for organisation %s; "
                    "tried again tomorrow",
                    row.action_id,
                    row.owner_code,
                )
                await self._release(row.action_id, self.now() + NO_ADDRESS_RETRY)
                continue
            notice = compose_notice(
                OverdueAction(row.action_id, row.meeting_on, row.owner_name, row.due_on),
                to,
                self.sender,
                self.console_url,
                self.now(),
            )
            async with self.mailer.session() as smtp:
                failure = await smtp.send(notice, to)
            if failure is not None:
                log.warning(
                    "notifier: panel action %s notice not sent (%s)", row.action_id, failure.detail
                )
                await self._release(row.action_id, self.now() + SEND_RETRY)
                continue
            async with self.db.transaction() as session:
                await session.execute(
                    update(T)
                    .where(T.c.action_id == row.action_id)
                    .values(noticed_at=self.now(), notice_to=to, claimed_until=None)
                )
            sent += 1
            log.info("notifier: panel action %s overdue: owner told", row.action_id)
        self.sent += sent
        return sent

    async def _release(self, action_id: str, again_at: datetime) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                update(T)
                .where(T.c.action_id == action_id)
                .values(notice_due_at=again_at, claimed_until=None)
            )

    async def run(self) -> None:
        while True:
            await self.run_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.sleep(self.check_every_s)
