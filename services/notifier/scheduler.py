"""The delivery loop (DESIGN §2, §7): due alerts are claimed and committed as
``sending`` before any SMTP traffic, sent, and each outcome committed with its status
message. Runs from ``due_at`` rows, never from sleeping handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError

from schemas.messages import AlertState
from services.notifier import repository
from services.notifier.delivery import (
    FailureKind,
    SendFailure,
    after_failure,
    message_id,
)
from services.notifier.follow_ups import FollowUps
from services.notifier.policy import DeliveryPolicy
from services.notifier.rendering import AlertContent, Renderer, RenderError
from services.notifier.smtp import Mailer, MailSession
from services.notifier.statuses import publish_alert_status
from services.runtime.consumer import Outbox
from services.runtime.database import Database, utcnow
from services.runtime.messaging import MessagingTables, OutboxRelay
from services.runtime.settings import RelaySettings

log = logging.getLogger(__name__)

# An alert still ``sending`` this long after its attempt started belongs to a process
# that died while others kept running; at startup every ``sending`` alert is recovered.
STALE_SENDING = timedelta(minutes=10)
RECORD_RETRY_FIRST_S = 0.5
RECORD_RETRY_MAX_S = 10.0


class DeliveryScheduler:
    def __init__(
        self,
        db: Database,
        tables: MessagingTables,
        settings: RelaySettings,
        renderer: Renderer,
        mailer: Mailer,
        relay: OutboxRelay | None = None,
        now: Callable[[], datetime] = utcnow,
        batch_size: int = 50,
        rng: random.Random | None = None,
        policy: DeliveryPolicy | None = None,
    ) -> None:
        self.db = db
        self.tables = tables
        self.settings = settings
        self.renderer = renderer
        self.mailer = mailer
        self.relay = relay
        self.now = now
        self.batch_size = batch_size
        self.rng = rng or random.Random()
        self.policy = policy or DeliveryPolicy()
        self.follow_ups = FollowUps(db, tables, settings, self.policy, now, batch_size)
        self._wake = asyncio.Event()
        self._recovered = False
        self.sent = 0
        self.failed = 0

    def wake(self) -> None:
        self._wake.set()

    async def recover(self, older_than: timedelta = timedelta(0)) -> list[str]:
        async with self.db.transaction() as session:
            recovered = await repository.recover_interrupted(session, self.now(), older_than)
        if recovered:
            log.warning(
                "notifier: %d alert(s) were interrupted while sending; queued again: %s",
                len(recovered),
                ", ".join(recovered[:20]),
            )
        return recovered

    async def run_once(self) -> int:
        """Raise due escalations and reminders, then send one batch of due alerts;
        returns how many were attempted."""
        if await self.follow_ups.run_once() and self.relay is not None:
            self.relay.wake()
        async with self.db.transaction() as session:
            claimed = await repository.claim_due(session, self.now(), self.batch_size)
        if not claimed:
            return 0
        async with self.mailer.session() as smtp:
            for item in claimed:
                await self._deliver(smtp, item)
        if self.relay is not None:
            self.relay.wake()
        return len(claimed)

    async def _deliver(self, smtp: MailSession, item: repository.Claimed) -> None:
        alert = item.alert
        failure: SendFailure | None
        fields: tuple[str, ...] = ()
        try:
            content = AlertContent.from_row(alert)
            email = self.renderer.build(content, self.now())
            fields = self.renderer.disclosed_fields(content)
        except RenderError as exc:
            failure = SendFailure(FailureKind.PERMANENT, f"cannot build the email: {exc}")
        except Exception as exc:  # a broken partnership template must not stop the loop
            failure = SendFailure(
                FailureKind.PERMANENT, f"cannot render the email: {type(exc).__name__}: {exc}"
            )
        else:
            failure = await smtp.send(email, alert.recipient_email)
        await self._record(alert, item.attempt, failure, fields)

    async def _record(
        self, alert: object, attempt: int, failure: SendFailure | None, fields: tuple[str, ...]
    ) -> None:
        """Commit an attempt's outcome, waiting out a database that is away: the outcome
        is known here, and giving up would leave the alert ``sending``, to be sent again
        once recovered. Only a crash of this process can still lose it (the window the
        interrupted attempt records)."""
        delay = RECORD_RETRY_FIRST_S
        while True:
            try:
                await self._record_once(alert, attempt, failure, fields)
                return
            except (DBAPIError, OSError) as exc:
                log.warning(
                    "notifier: cannot record attempt %d of alert %s yet (%s); retrying in %gs",
                    attempt,
                    alert.alert_id,  # type: ignore[attr-defined]
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECORD_RETRY_MAX_S)

    async def _record_once(
        self, alert: object, attempt: int, failure: SendFailure | None, fields: tuple[str, ...]
    ) -> None:
        alert_id: str = alert.alert_id  # type: ignore[attr-defined]
        now = self.now()
        async with self.db.transaction() as session:
            out = Outbox(session, self.tables, self.settings)
            if failure is None:
                await repository.finish_attempt(
                    session, alert_id, attempt, AlertState.SENT.value, now
                )
                # Disclosed whether or not the alert moved on meanwhile: the email went.
                await repository.record_disclosure(
                    session, alert, fields, now, message_id(alert_id)
                )
                if await repository.record_sent(session, alert_id, now, message_id(alert_id)):
                    await publish_alert_status(out, alert, AlertState.SENT, now, attempt)
                self.sent += 1
                log.info("notifier: alert %s sent (attempt %d)", alert_id, attempt)
                return
            first = alert.first_attempt_at or now  # type: ignore[attr-defined]
            step = after_failure(failure, attempt, first, now, self.rng, self.policy.retry)
            await repository.finish_attempt(
                session, alert_id, attempt, step.state.value, now, failure.code, failure.detail
            )
            if await repository.record_failure(session, alert_id, step, now):
                await publish_alert_status(out, alert, step.state, now, attempt, step.detail)
                if step.state is AlertState.PERMANENT_FAILURE:
                    # Nobody will read it: the next in the chain is told at once (an
                    # escalation that fails moves its original alert on).
                    parent: str = alert.parent_alert_id  # type: ignore[attr-defined]
                    if parent:
                        await repository.escalate_now(session, parent, now)
                    else:
                        await repository.escalate_now(
                            session, alert_id, now, not_yet_escalated=True
                        )
            self.failed += 1
            log.warning(
                "notifier: alert %s attempt %d: %s (%s)%s",
                alert_id,
                attempt,
                step.state.value,
                failure.detail,
                f"; next at {step.due_at:%H:%M:%S}" if step.due_at else "",
            )

    async def run(self) -> None:
        if not self._recovered:
            # Once per process: what was ``sending`` when it last stopped. A restart of
            # this loop (after an error) leaves rows to the stale sweep below, so that it
            # never takes over an alert another copy of the notifier is sending.
            await self.recover()
            self._recovered = True
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + STALE_SENDING.total_seconds() / 10
        while True:
            if loop.time() >= next_sweep:
                await self.recover(STALE_SENDING)
                next_sweep = loop.time() + STALE_SENDING.total_seconds() / 10
            attempted = await self.run_once()
            if attempted >= self.batch_size:
                continue  # more may be due: no pause between full batches
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_interval_s)
            self._wake.clear()
