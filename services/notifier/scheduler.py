"""The delivery loop (DESIGN §2, §7): due alerts are claimed and committed as
``sending`` before any SMTP traffic, sent, and each outcome committed with its status
message. Runs from ``due_at`` rows, never from sleeping handlers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.catalogue import ALERT_STATUS
from schemas.messages import AlertState
from services.notifier import outcomes, repository
from services.notifier.content import AlertContent
from services.notifier.delivery import (
    FailureKind,
    NextStep,
    SendFailure,
    after_failure,
)
from services.notifier.follow_ups import FollowUps
from services.notifier.model import Alert
from services.notifier.outcomes import Disclosed, Finished
from services.notifier.policy import DeliveryPolicy
from services.notifier.rendering import Renderer, RenderError
from services.notifier.smtp import Mailer, MailSession
from services.notifier.statuses import alert_status_json, publish_alert_status
from services.runtime.database import Database, utcnow
from services.runtime.handling import Outbox
from services.runtime.messaging import MessagingTables, OutboxRelay, outbox_json_row
from services.runtime.settings import RelaySettings

log = logging.getLogger(__name__)

# A copy holds the alerts it claimed (``sending``) this long without renewing the claim;
# it renews every quarter of it while it works. Copies of the notifier share one
# database, so an old claim is all that tells a dead copy's alerts from a live one's:
# at start, too, only claims older than this are taken over (RELAY_NOTIFIER_SENDING_LEASE_S).
SENDING_LEASE = timedelta(seconds=30)
RECORD_RETRY_FIRST_S = 0.5
RECORD_RETRY_MAX_S = 10.0


@dataclass
class Attempted:
    """One claimed alert after its attempt: sent (no ``failure``) or not, and what the
    email disclosed; ``step`` is set once a failure's next state is worked out."""

    alert: Alert
    attempt: int
    failure: SendFailure | None
    fields: tuple[str, ...]
    step: NextStep | None = None


async def attempt(
    renderer: Renderer, smtp: MailSession, item: repository.Claimed, now: datetime
) -> Attempted:
    """Build and send one claimed alert; what happened (nothing recorded yet)."""
    alert = item.alert
    failure: SendFailure | None
    fields: tuple[str, ...] = ()
    try:
        content = AlertContent.from_alert(alert)
        email = renderer.compose(content, now)
        fields = renderer.disclosed_fields(content)
    except RenderError as exc:
        failure = SendFailure(FailureKind.PERMANENT, f"cannot build the email: {exc}")
    except Exception as exc:  # a broken partnership template must not stop the loop
        failure = SendFailure(
            FailureKind.PERMANENT, f"cannot render the email: {type(exc).__name__}: {exc}"
        )
    else:
        failure = await smtp.send(email, alert.recipient_email)
    return Attempted(alert, item.attempt, failure, fields)


class _Recorder:
    """Commits the senders' outcomes with a group commit: a sender waits until its
    outcome is committed before it sends again, and the one committing takes every
    outcome handed in meanwhile into the same transaction. So at most one email per
    sender is ever sent and not yet recorded (the window a crash can repeat). Each alert
    leaves ``held`` (the claims renewed) once its outcome is committed."""

    def __init__(
        self, record: Callable[[list[Attempted]], Awaitable[None]], held: dict[str, int]
    ) -> None:
        self._record = record
        self._held = held
        self._pending: list[tuple[Attempted, asyncio.Future[None]]] = []
        self._committing = asyncio.Lock()

    async def commit(self, attempted: Attempted) -> None:
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((attempted, mine))
        async with self._committing:
            if mine.done():  # committed (or failed) with the group before it
                mine.result()
                return
            group, self._pending = self._pending, []
            try:
                await self._record([item for item, _ in group])
            except BaseException as exc:
                for _, waiting in group:
                    if waiting is mine:
                        continue
                    if isinstance(exc, asyncio.CancelledError):
                        waiting.cancel()
                    else:
                        waiting.set_exception(exc)
                raise
            for item, waiting in group:
                self._held.pop(item.alert.alert_id, None)
                if waiting is not mine:
                    waiting.set_result(None)


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
        lease: timedelta = SENDING_LEASE,
        senders: int | None = None,
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
        self.lease = lease
        # As many alerts in flight at once as the mailer keeps connections.
        self.senders = max(1, senders or mailer.connections)
        self._wake = asyncio.Event()
        self._renewed_at = 0.0  # loop time the claims in flight were last known held
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
        # The delivery loop's transactions are urgent (ahead of consumer batches on
        # SQLite): every connection waits on its outcome's commit before sending again.
        claimed = await self.db.run(self._claim, urgent=True)
        if not claimed:
            return 0
        self._renewed_at = asyncio.get_running_loop().time()
        held = {item.alert.alert_id: item.attempt for item in claimed}
        keeper = asyncio.create_task(self._keep_claims(held))
        recorder = _Recorder(self._record, held)
        todo = deque(claimed)
        try:
            # One sender per pooled connection, each committing an outcome (together
            # with the other senders' of the moment) before it sends the next.
            senders = [
                asyncio.create_task(self._send_from(todo, recorder))
                for _ in range(min(self.senders, len(claimed)))
            ]
            try:
                await asyncio.gather(*senders)
            finally:
                for sender in senders:
                    sender.cancel()
                await asyncio.gather(*senders, return_exceptions=True)
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
        if self.relay is not None:
            self.relay.wake()
        return len(claimed)

    def _claim(self, connection: Connection) -> list[repository.Claimed]:
        # The clock read once the transaction holds SQLite's writer, as the lease's start.
        return repository.claim_due_on(connection, self.now(), self.batch_size)

    async def _send_from(self, todo: deque[repository.Claimed], recorder: _Recorder) -> None:
        loop = asyncio.get_running_loop()
        async with self.mailer.session() as smtp:
            while todo:
                if loop.time() - self._renewed_at > self.lease.total_seconds() / 2:
                    # Our claims may be taken over soon: sending now could send twice.
                    log.warning(
                        "notifier: cannot renew the claim on %d alert(s); leaving them "
                        "to be taken over",
                        len(todo),
                    )
                    todo.clear()
                    return
                await recorder.commit(await self._attempt(smtp, todo.popleft()))

    async def _keep_claims(self, held: dict[str, int]) -> None:
        """Renew the lease on the alerts of the batch in flight until it is done."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 4)
            try:
                async with self.db.transaction(urgent=True) as session:
                    await repository.renew_claims(session, dict(held), self.now())
            except (DBAPIError, OSError) as exc:
                log.warning("notifier: cannot renew claims yet (%s)", type(exc).__name__)
            else:
                self._renewed_at = loop.time()

    async def _attempt(self, smtp: MailSession, item: repository.Claimed) -> Attempted:
        return await attempt(self.renderer, smtp, item, self.now())

    async def _record(self, group: list[Attempted]) -> None:
        """Commit the outcomes of a group of attempts in one transaction, waiting out a
        database that is away: the outcomes are known here, and giving up would leave
        the alerts ``sending``, to be sent again once recovered. Only a crash of this
        process can still lose them (the window the interrupted attempts record)."""
        delay = RECORD_RETRY_FIRST_S
        while True:
            try:
                await self._record_once(group)
            except (DBAPIError, OSError) as exc:
                log.warning(
                    "notifier: cannot record %d attempt(s) yet (%s), first alert %s; "
                    "retrying in %gs",
                    len(group),
                    type(exc).__name__,
                    group[0].alert.alert_id,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECORD_RETRY_MAX_S)
                continue
            for attempted in group:
                self._log_outcome(attempted)
            return

    async def _record_once(self, group: list[Attempted]) -> None:
        """The outcomes of ``group`` in one transaction: every attempt finished, every
        sent alert recorded and its status queued in a few statements for the group
        (outcomes.py), then the failures one by one. A group with no failure (nearly
        every one) is one hand-over to the database's synchronous side, begin to commit
        (:meth:`Database.run`)."""
        now = self.now()
        sent = [a for a in group if a.failure is None]
        failed = [a for a in group if a.failure is not None]
        for attempted in failed:
            assert attempted.failure is not None
            first = attempted.alert.first_attempt_at or now
            attempted.step = after_failure(
                attempted.failure, attempted.attempt, first, now, self.rng, self.policy.retry
            )
        finished = [Finished(a.alert.alert_id, a.attempt, AlertState.SENT.value) for a in sent]
        finished += [
            Finished(
                a.alert.alert_id, a.attempt, a.step.state.value, a.failure.code, a.failure.detail
            )
            for a in failed
            if a.step is not None and a.failure is not None
        ]
        topic = self.settings.topic(ALERT_STATUS.wire)
        statuses = {
            a.alert.alert_id: outbox_json_row(
                topic,
                a.alert.alert_id,
                *alert_status_json(a.alert, AlertState.SENT, now, a.attempt),
            )
            for a in sent
        }
        disclosed = [Disclosed(a.alert, a.attempt, a.fields) for a in sent]
        outcome = outcomes.Group(finished, disclosed, statuses, self.tables.outbox, now)
        if not failed:
            await self.db.run(functools.partial(outcomes.record_group, group=outcome), urgent=True)
            return
        async with self.db.transaction(urgent=True) as session:
            await outcomes.record(session, outcome)
            out = Outbox(session, self.tables, self.settings)
            for attempted in failed:
                await self._record_failure(session, out, attempted, now)

    async def _record_failure(
        self, session: AsyncSession, out: Outbox, attempted: Attempted, now: datetime
    ) -> None:
        alert, attempt, step = attempted.alert, attempted.attempt, attempted.step
        assert step is not None
        alert_id = alert.alert_id
        if await repository.record_failure(session, alert_id, step, now, attempt):
            await publish_alert_status(out, alert, step.state, now, attempt, step.detail)
            if step.state is AlertState.PERMANENT_FAILURE:
                # Nobody will read it: the next in the chain is told at once (an
                # escalation that fails moves its original alert on).
                parent = alert.parent_alert_id
                if parent:
                    await repository.escalate_now(session, parent, now)
                else:
                    await repository.escalate_now(session, alert_id, now, not_yet_escalated=True)

    def _log_outcome(self, attempted: Attempted) -> None:
        alert_id, attempt = attempted.alert.alert_id, attempted.attempt
        if attempted.failure is None:
            self.sent += 1
            log.info("notifier: alert %s sent (attempt %d)", alert_id, attempt)
            return
        self.failed += 1
        step = attempted.step
        log.warning(
            "notifier: alert %s attempt %d: %s (%s)%s",
            alert_id,
            attempt,
            step.state.value if step else "failed",
            attempted.failure.detail,
            f"; next at {step.due_at:%H:%M:%S}" if step and step.due_at else "",
        )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        # Claims nobody renewed for a lease: their copy died (this process's previous
        # life, or another copy). A live copy's claims are never taken, so neither a
        # start nor a sweep sends what another copy is sending.
        await self.recover(self.lease)
        log.info(
            "notifier: delivering; alerts whose claim is not renewed for %gs are taken over",
            self.lease.total_seconds(),
        )
        next_sweep = loop.time() + self.lease.total_seconds() / 4
        while True:
            if loop.time() >= next_sweep:
                await self.recover(self.lease)
                next_sweep = loop.time() + self.lease.total_seconds() / 4
            attempted = await self.run_once()
            if attempted >= self.batch_size:
                continue  # more may be due: no pause between full batches
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_interval_s)
            self._wake.clear()
