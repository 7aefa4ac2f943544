"""The episode drives its alerts (issue 17): when the child is found, returned or the
episode closed, earlier alerts nobody acknowledged are stood down; when the police
withdraw an episode, everything pending is cancelled and every organisation told
anything is asked to disregard and delete it."""

from __future__ import annotations

import logging
from datetime import datetime

from schemas.base import derived_id
from schemas.messages import (
    AlertKind,
    AlertRequestedV1,
    AlertState,
    EpisodeRefV1,
    OrgKind,
    RhiTaskState,
)
from services.notifier import episode_alerts
from services.notifier.alert_store import AlertStore
from services.notifier.escalation import Contact
from services.notifier.model import Alert, raised_alert
from services.notifier.statuses import publish_alert_status, publish_task_status
from services.runtime.handling import Publisher

log = logging.getLogger(__name__)

_ENDED = {
    "found": "the child was found",
    "returned": "the child returned",
    "closed": "the episode was closed",
}


async def stand_down_earlier(
    store: AlertStore, message: AlertRequestedV1, out: Publisher, at: datetime
) -> int:
    """Earlier alerts of the episode still waiting for an acknowledgement become
    ``stood-down``: no escalation or reminder follows, and what was queued to escalate
    them is cancelled. Returns how many."""
    episode = message.episode
    waiting = await store.awaiting_before(
        episode.force_code, episode.episode_ref, episode.occurred_at
    )
    if not waiting:
        return 0
    why = f"{_ENDED.get(episode.event_type.value, 'the episode ended')}: no acknowledgement needed"
    cancelled = await _stand_down(store, waiting, why, out, at)
    log.info(
        "notifier: event %s stood down %d alert(s) and cancelled %d escalation(s) of episode %s/%s",
        episode.event_message_id,
        len(waiting),
        cancelled,
        episode.force_code,
        episode.episode_ref,
    )
    return len(waiting)


async def stand_down_if_ended(
    store: AlertStore, alert: Alert, message: AlertRequestedV1, out: Publisher, at: datetime
) -> bool:
    """An alert about the child being missing that arrives after an alert of the
    episode's end (a review a person decided after the child was found, a dead letter
    retried late) is stood down at once and never sent: "missing" must not follow
    "found". True when it was."""
    episode = message.episode
    if message.kind is AlertKind.REPEAT_MISSING:
        return False  # about the pattern, not this episode: it stays open
    ended = await store.ended_after(episode.force_code, episode.episode_ref, episode.occurred_at)
    if ended is None:
        return False
    why = f"{_ENDED.get(ended, 'the episode ended')} before it went: no acknowledgement needed"
    await _stand_down(store, [alert], why, out, at)
    log.info(
        "notifier: alert %s of event %s stood down on arrival: episode %s/%s ended (%s) after it",
        alert.alert_id,
        episode.event_message_id,
        episode.force_code,
        episode.episode_ref,
        ended,
    )
    return True


async def _stand_down(
    store: AlertStore, rows: list[Alert], why: str, out: Publisher, at: datetime
) -> int:
    """``rows`` stood down and their unsent escalations cancelled; how many were."""
    ids = [row.alert_id for row in rows]
    await store.set_state(ids, AlertState.STOOD_DOWN, at)
    for row in rows:
        await publish_alert_status(out, row, AlertState.STOOD_DOWN, at, detail=why)
    cancelled = await store.unsent_follow_ups(ids)
    await store.set_state([row.alert_id for row in cancelled], AlertState.CANCELLED, at)
    for row in cancelled:
        await publish_alert_status(out, row, AlertState.CANCELLED, at, detail="stood down")
    return len(cancelled)


async def withdraw(
    store: AlertStore, message: AlertRequestedV1, out: Publisher, at: datetime
) -> int:
    """The police withdrew the episode. ``message`` is the router's request (addressed to
    the responsible authority); the notifier, which knows what went out, asks every
    organisation told anything to disregard it, once each however often the episode is
    withdrawn. Returns how many notices were queued."""
    episode = message.episode
    request = await store.get_alert(message.alert_id)
    rows = [
        r
        for r in await store.episode_alerts(episode.force_code, episode.episode_ref)
        if r.alert_id != message.alert_id
    ]
    told = episode_alerts.told_organisations(rows)
    already = await store.noticed_recipients(
        episode.force_code, episode.episode_ref, but=message.alert_id
    )
    withdrawn = await _withdraw_pending(store, out, episode, rows, at)
    if request is None:
        return 0  # a request this handler stored a moment ago: always there
    queued = await _ask_to_disregard(store, out, message, request, told, already, at)
    own = next((org for org in told if org.code == message.recipient.code), None)
    if own is not None and own.code not in already:
        await store.set_about_alerts(message.alert_id, own.alert_ids, at)
        queued += 1
    else:
        # Nothing went to the authority about the episode (or it was asked already).
        await store.set_state([message.alert_id], AlertState.CANCELLED, at)
        await publish_alert_status(
            out,
            request,
            AlertState.CANCELLED,
            at,
            detail="nothing to disregard: no other notice needed for this organisation",
        )
    log.info(
        "notifier: episode %s/%s withdrawn (event %s): %d alert(s) withdrawn, %d notice(s)",
        episode.force_code,
        episode.episode_ref,
        episode.event_message_id,
        withdrawn,
        queued,
    )
    return queued


async def _withdraw_pending(
    store: AlertStore, out: Publisher, episode: EpisodeRefV1, rows: list[Alert], at: datetime
) -> int:
    """Everything of the episode not yet withdrawn (alerts, RHI tasks) is withdrawn:
    nothing more is sent or asked; each disclosure gets its withdrawal entry. Returns
    how many alerts were withdrawn."""
    pending = [r for r in rows if r.state != AlertState.WITHDRAWN.value]
    await store.set_state([r.alert_id for r in pending], AlertState.WITHDRAWN, at)
    for row in pending:
        if row.state != AlertState.SENDING.value:
            await publish_alert_status(
                out, row, AlertState.WITHDRAWN, at, detail="episode withdrawn by the police"
            )
    for task in await store.withdraw_tasks(episode.force_code, episode.episode_ref, at):
        await publish_task_status(
            out,
            task,
            RhiTaskState.WITHDRAWN,
            at,
            note="episode withdrawn by the police",
            discriminator=episode.event_message_id,
        )
    await store.record_withdrawals(episode.force_code, episode.episode_ref, episode.event_id, at)
    return len(pending)


async def _ask_to_disregard(
    store: AlertStore,
    out: Publisher,
    message: AlertRequestedV1,
    request: Alert,
    told: list[episode_alerts.Told],
    already: set[str],
    at: datetime,
) -> int:
    """A withdrawal notice to each organisation told anything and not asked yet, but
    the request's own (the request becomes that notice); how many were queued."""
    queued = 0
    for org in told:
        if org.code in already:
            continue
        notice_id = derived_id(
            message.episode.event_message_id, org.code, AlertKind.WITHDRAWN.value
        )
        if notice_id == message.alert_id:
            continue  # the request itself is this organisation's notice
        notice = raised_alert(
            notice_id,
            AlertKind.WITHDRAWN,
            Contact(org.code, org.name, org.email),
            OrgKind(org.kind),
            request,
            "episode withdrawn by the police: please disregard and delete",
            "withdrawn.told",
            at,
            about_alert_ids=" ".join(org.alert_ids),
        )
        if await store.insert_raised(notice):
            await publish_alert_status(out, notice, AlertState.QUEUED, at)
            queued += 1
    return queued
