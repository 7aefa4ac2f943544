"""Thin handlers: one message in, one use case, statuses out through the outbox."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from schemas.episode import ENDING_EVENTS, MISSING_EVENTS
from schemas.messages import (
    AcknowledgementV1,
    AlertKind,
    AlertRequestedV1,
    AlertState,
    OrgKind,
    RhiTaskOutcomeV1,
    RhiTaskRequestedV1,
    RhiTaskState,
)
from services.notifier import episodes, out_of_hours
from services.notifier.alert_store import AlertStore
from services.notifier.deadlines import ack_deadline, rhi_reminder_at
from services.notifier.model import Alert, RhiTask
from services.notifier.policy import DeliveryPolicy
from services.notifier.sql_alert_store import SqlAlertStore
from services.notifier.statuses import publish_alert_status, publish_task_status
from services.notifier.tasks import state_for_outcome, task_due_at
from services.runtime.database import utcnow
from services.runtime.hand_over import in_one_hand_over
from services.runtime.handling import Outbox, Publisher, UnprocessableError, at_commit

Clock = Callable[[], datetime]
DEFAULT_POLICY = DeliveryPolicy()
log = logging.getLogger(__name__)


_AFTER_COMMIT = "relay.after_commit"


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run ``callback`` once this session's transaction has committed (not before: the
    scheduler must be able to see the row it is woken for). Once per transaction: a
    batch of alerts wakes the scheduler once. The callbacks wait in the session's
    ``info``; one listener on every ``Session`` runs them (issue 18: a listener
    registered on each transaction's session cost about 50 µs)."""
    waiting: dict[Callable[[], None], None] | None = session.info.get(_AFTER_COMMIT)
    if waiting is None:
        _listen_for_commits()
        waiting = session.info[_AFTER_COMMIT] = {}
    waiting[callback] = None  # an ordered set


@functools.cache
def _listen_for_commits() -> None:
    """The one listener (registered on first use: nothing at import)."""
    event.listen(Session, "after_commit", _committed)


def _committed(session: Session) -> None:
    """A transaction committed: its callbacks run, once (a session that commits again
    has none left)."""
    waiting: dict[Callable[[], None], None] | None = session.info.pop(_AFTER_COMMIT, None)
    for callback in waiting or ():
        callback()


def _through(out: Publisher, session: AsyncSession) -> Publisher:
    """``out`` writing through ``session`` (services/runtime/hand_over.py); an in-memory
    publisher (a test's) as it is."""
    return out.on(session) if isinstance(out, Outbox) else out


async def on_alert_requested(
    session: AsyncSession,
    message: AlertRequestedV1,
    out: Outbox,
    *,
    now: Clock = utcnow,
    wake: Callable[[], None] | None = None,
    policy: DeliveryPolicy = DEFAULT_POLICY,
) -> None:
    """:func:`queue_alert` in the consumer's transaction; ``wake`` (the scheduler) once
    it has committed a new alert."""
    # The store's statements in one hand-over to the session's synchronous side; the
    # statuses it publishes written at the commit, a batch's in one statement (nothing
    # here reads the outbox).
    statuses = at_commit(out)
    queued = await in_one_hand_over(
        session,
        lambda s: queue_alert(
            SqlAlertStore(s), message, _through(statuses, s), now=now, policy=policy
        ),
    )
    if queued and wake is not None:
        after_commit(session, wake)


async def queue_alert(
    store: AlertStore,
    message: AlertRequestedV1,
    out: Publisher,
    *,
    now: Clock = utcnow,
    policy: DeliveryPolicy = DEFAULT_POLICY,
) -> bool:
    """Store the requested alert, queued, and what it changes for the episode's other
    alerts and the child's open RHI tasks; False when it was stored already."""
    at = now()
    episode = message.episode
    await store.adopt_child(episode.force_code, episode.episode_ref, message.child_id)
    deadline = ack_deadline(message.kind, message.recipient.kind, at, policy, urgent=message.urgent)
    alert = Alert.requested(message, at, deadline)
    if not await store.insert_alert(alert):
        return False  # the same alert again (a replay, or the same facts under another id)
    await publish_alert_status(out, alert, AlertState.QUEUED, at)
    await out_of_hours.tell_out_of_hours_team(store, alert, out, at, policy)
    if message.kind is AlertKind.WITHDRAWN:
        await episodes.withdraw(store, message, out, at)
    elif message.episode.event_type in ENDING_EVENTS:
        await episodes.stand_down_earlier(store, message, out, at)
    elif message.episode.event_type in MISSING_EVENTS:
        await episodes.stand_down_if_ended(store, alert, message, out, at)
    if message.kind is AlertKind.REPORTED and message.recipient.kind is OrgKind.LOCAL_AUTHORITY:
        await note_new_episode(store, message, out, at)
    return True


async def note_new_episode(
    store: AlertStore, message: AlertRequestedV1, out: Publisher, at: datetime
) -> None:
    """A child reported missing again before their return home interview: the open
    task stays open and says so (DESIGN §7)."""
    episode = message.episode
    tasks = await store.open_tasks_for_child(
        message.recipient.code,
        message.child.given_name,
        message.child.family_name,
        message.child.date_of_birth,
        message.child_id,
    )
    for task in tasks:
        if task.event_message_id == episode.event_message_id or (
            episode.occurred_at <= task.returned_at
        ):
            continue  # not a new episode: the one returned from, or one before it
        note = (
            f"new episode {episode.force_code}/{episode.episode_ref} reported "
            f"{episode.occurred_at:%Y-%m-%d %H:%M} UTC before the interview"
        )
        await store.add_task_note(task.task_id, note, at)
        await publish_task_status(
            out,
            task,
            RhiTaskState(task.state),
            at,
            note=note,
            discriminator=episode.event_message_id,
        )


async def on_rhi_task_requested(
    session: AsyncSession,
    message: RhiTaskRequestedV1,
    out: Outbox,
    *,
    now: Clock = utcnow,
    policy: DeliveryPolicy = DEFAULT_POLICY,
) -> None:
    await in_one_hand_over(
        session,
        lambda s: open_task(SqlAlertStore(s), message, _through(out, s), now=now, policy=policy),
    )


async def open_task(
    store: AlertStore,
    message: RhiTaskRequestedV1,
    out: Publisher,
    *,
    now: Clock = utcnow,
    policy: DeliveryPolicy = DEFAULT_POLICY,
) -> bool:
    """Store the requested RHI task, open; False when it was stored already."""
    at = now()
    episode = message.episode
    await store.adopt_child(episode.force_code, episode.episode_ref, message.child_id)
    due = task_due_at(message.returned_at, message.due_at)
    reminder = rhi_reminder_at(message.returned_at, policy)
    task = RhiTask.requested(message, at, due, reminder if reminder < due else None)
    if not await store.insert_task(task):
        return False
    await publish_task_status(out, task, RhiTaskState.OPEN, at)
    return True


async def on_acknowledgement(
    session: AsyncSession,
    message: AcknowledgementV1,
    out: Outbox,
    *,
    now: Clock = utcnow,
) -> None:
    await in_one_hand_over(
        session, lambda s: acknowledge_alert(SqlAlertStore(s), message, _through(out, s), now=now)
    )


async def acknowledge_alert(
    store: AlertStore, message: AcknowledgementV1, out: Publisher, *, now: Clock = utcnow
) -> None:
    """Acknowledging an escalation acknowledges the alert it escalates too: either way
    the chain stops, and what was queued and not yet sent is cancelled."""
    alert = await store.get_alert(message.alert_id)
    if alert is None:
        raise UnprocessableError(f"acknowledgement for unknown alert {message.alert_id}")
    at = now()
    chain = [alert]
    if alert.parent_alert_id:
        parent = await store.get_alert(alert.parent_alert_id)
        if parent is not None:
            chain.append(parent)
    for item in chain:
        by = message.by if item is alert else f"{message.by or 'recipient'} (escalation)"
        if await store.acknowledge(item.alert_id, message.acknowledged_at, by, at):
            await publish_alert_status(
                out, item, AlertState.ACKNOWLEDGED, at, attempt=item.attempts
            )
        for cancelled in await store.cancel_unsent(at, parent_alert_id=item.alert_id):
            await publish_alert_status(
                out, cancelled, AlertState.CANCELLED, at, detail="acknowledged"
            )


async def on_rhi_task_outcome(
    session: AsyncSession,
    message: RhiTaskOutcomeV1,
    out: Outbox,
    *,
    now: Clock = utcnow,
) -> None:
    await in_one_hand_over(
        session, lambda s: close_task(SqlAlertStore(s), message, _through(out, s), now=now)
    )


async def close_task(
    store: AlertStore, message: RhiTaskOutcomeV1, out: Publisher, *, now: Clock = utcnow
) -> bool:
    """Record the task's outcome and cancel its unsent reminders; False when it had an
    outcome already (the first stands)."""
    task = await store.get_task(message.task_id)
    if task is None:
        raise UnprocessableError(f"outcome for unknown RHI task {message.task_id}")
    if not await store.record_outcome(message, now()):
        log.info("notifier: RHI task %s already has an outcome; kept it", message.task_id)
        return False
    for cancelled in await store.cancel_unsent(now(), task_id=message.task_id):
        await publish_alert_status(
            out, cancelled, AlertState.CANCELLED, now(), detail="outcome recorded"
        )
    state = state_for_outcome(message.outcome)
    # The reason may hold personal detail; the console has it from the outcome itself.
    await publish_task_status(
        out,
        task,
        state,
        now(),
        note=f"outcome {state.value} recorded by {message.recorded_by}",
        discriminator=message.message_id,
    )
    return True
