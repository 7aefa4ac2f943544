"""Who knows about an episode, as the police may see it (issue 17): ingest's read model of
``alert-status`` and ``alert-answers``, and the answer to
``GET /v1/episodes/{force_code}/{episode_ref}``. Pure decisions, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from schemas.episode import EventType
from schemas.episode_status import (
    AcceptedEventV1,
    EpisodeStatusV1,
    RecipientAlertV1,
    RecipientStatusV1,
)
from schemas.messages import (
    AlertAnswerV1,
    AlertKind,
    AlertState,
    AlertStatusV1,
    Answer,
    OrgKind,
)

# Nothing more is asked of the recipient: no status of the delivery (a late or replayed
# `sent`, a retry) takes an alert back out of these. One settled state may follow another
# (a stood-down alert can still be acknowledged).
SETTLED = frozenset(
    {AlertState.ACKNOWLEDGED, AlertState.STOOD_DOWN, AlertState.WITHDRAWN, AlertState.CANCELLED}
)


@dataclass(frozen=True)
class AlertRecord:
    """One alert as the statuses so far describe it."""

    alert_id: str
    force_code: str
    episode_ref: str
    recipient_code: str
    recipient_kind: OrgKind
    recipient_name: str | None
    kind: AlertKind
    event_type: EventType | None
    state: AlertState
    state_at: datetime  # the `at` of the status that set `state`
    first_at: datetime  # the earliest status: orders alerts and recipients
    sent_at: datetime | None
    acknowledged_at: datetime | None


@dataclass(frozen=True)
class AnswerRecord:
    """A recipient's latest answer to an alert. The text of an ``information`` answer is
    not kept: the police get it by email, and ingest has no business holding it."""

    alert_id: str
    force_code: str
    episode_ref: str
    recipient_code: str
    recipient_kind: OrgKind
    recipient_name: str
    answer: Answer
    answered_at: datetime


def record_status(current: AlertRecord | None, status: AlertStatusV1) -> AlertRecord:
    """The alert once ``status`` is taken in. Statuses of one alert come in order, but a
    replay may bring an older one again: the first ``sent`` and ``acknowledged`` times
    stand, and the state moves only to a status at least as recent that does not undo a
    settled state."""
    sent_at = _first(
        current.sent_at if current else None,
        status.at if status.state is AlertState.SENT else None,
    )
    acknowledged_at = _first(
        current.acknowledged_at if current else None,
        status.at if status.state is AlertState.ACKNOWLEDGED else None,
    )
    if current is None:
        return AlertRecord(
            alert_id=status.alert_id,
            force_code=status.force_code,
            episode_ref=status.episode_ref,
            recipient_code=status.recipient_code,
            recipient_kind=status.recipient_kind,
            recipient_name=status.recipient_name,
            kind=status.kind,
            event_type=status.event_type,
            state=status.state,
            state_at=status.at,
            first_at=status.at,
            sent_at=sent_at,
            acknowledged_at=acknowledged_at,
        )
    updated = replace(
        current,
        recipient_name=status.recipient_name or current.recipient_name,
        event_type=status.event_type or current.event_type,
        first_at=min(current.first_at, status.at),
        sent_at=sent_at,
        acknowledged_at=acknowledged_at,
    )
    if _moves_state(current, status):
        updated = replace(updated, state=status.state, state_at=status.at)
    return updated


def record_statuses(
    current: Mapping[str, AlertRecord], statuses: Iterable[AlertStatusV1]
) -> list[AlertRecord]:
    """The alerts ``statuses`` change, each as :func:`record_status` leaves it when they
    are taken in one at a time, in order (``current``: the alerts stored before, by id;
    an alert not in it is new). An alert that no status changes is not among them."""
    records = dict(current)
    changed: dict[str, AlertRecord] = {}
    for status in statuses:
        before = records.get(status.alert_id)
        after = record_status(before, status)
        if after != before:
            records[status.alert_id] = changed[status.alert_id] = after
    return list(changed.values())


def _moves_state(current: AlertRecord, status: AlertStatusV1) -> bool:
    if status.at < current.state_at:
        return False
    if current.state in SETTLED and status.state not in SETTLED:
        return False
    # Statuses published in one instant (a fixed clock) keep their order, but an alert
    # is queued only once, before anything else.
    return not (status.at == current.state_at and status.state is AlertState.QUEUED)


def record_answer(current: AnswerRecord | None, answer: AlertAnswerV1) -> AnswerRecord | None:
    """The answer to keep once ``answer`` is taken in, or None to keep ``current``: the
    latest answer stands (a recipient may say "here now" after "information")."""
    if current is not None and answer.answered_at < current.answered_at:
        return None
    return AnswerRecord(
        alert_id=answer.alert_id,
        force_code=answer.force_code,
        episode_ref=answer.episode_ref,
        recipient_code=answer.recipient_code,
        recipient_kind=answer.recipient_kind,
        recipient_name=answer.recipient_name,
        answer=answer.answer,
        answered_at=answer.answered_at,
    )


def episode_status(
    force_code: str,
    episode_ref: str,
    events: Sequence[AcceptedEventV1],
    alerts: Sequence[AlertRecord],
    answers: Sequence[AnswerRecord],
) -> EpisodeStatusV1:
    """The answer for one episode. Recipients in the order they were first alerted, each
    one's alerts likewise. An alert shows from its first status on; the police's own
    copies of answers (kind ``answer``) are not "who knows" and are left out."""
    by_alert = {a.alert_id: a for a in answers}
    told = sorted(
        (a for a in alerts if a.kind is not AlertKind.ANSWER),
        key=lambda a: (a.first_at, a.alert_id),
    )
    groups: dict[tuple[OrgKind, str], list[AlertRecord]] = {}
    for alert in told:
        groups.setdefault((alert.recipient_kind, alert.recipient_code), []).append(alert)
    recipients = [
        RecipientStatusV1(
            organisation_code=code,
            organisation_name=_name(group, by_alert),
            kind=kind,
            alerts=[_alert(a, by_alert.get(a.alert_id)) for a in group],
        )
        for (kind, code), group in groups.items()
    ]
    return EpisodeStatusV1(
        force_code=force_code, episode_ref=episode_ref, events=list(events), recipients=recipients
    )


def _alert(alert: AlertRecord, answer: AnswerRecord | None) -> RecipientAlertV1:
    return RecipientAlertV1(
        alert_id=alert.alert_id,
        kind=alert.kind,
        event_type=alert.event_type,
        state=alert.state,
        sent_at=alert.sent_at,
        acknowledged_at=alert.acknowledged_at,
        answer=answer.answer if answer else None,
        answered_at=answer.answered_at if answer else None,
    )


def _name(group: Sequence[AlertRecord], answers: dict[str, AnswerRecord]) -> str | None:
    """The latest name any message gave the organisation (statuses from before names
    were carried have none)."""
    named = [(a.state_at, a.recipient_name) for a in group if a.recipient_name]
    named += [
        (answers[a.alert_id].answered_at, answers[a.alert_id].recipient_name)
        for a in group
        if a.alert_id in answers
    ]
    return max(named)[1] if named else None


def _first(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None
