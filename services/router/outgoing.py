"""The messages a routing plan carries (pure): alerts, RHI tasks and identity reviews.

Alerts carry only the child's name and date of birth and the episode reference: never
risk factors, locations, associates or police free text. Every id derives from the facts
(event, organisation, kind), so the same facts routed twice give the same messages.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas.base import derived_id
from schemas.episode import EXPLOITATION_FACTORS, EpisodeEventV1, RiskGrade
from schemas.messages import (
    AlertKind,
    AlertRequestedV1,
    ChildSummaryV1,
    EpisodeRefV1,
    IdentityCandidateV1,
    IdentityReviewV1,
    OrgKind,
    RecipientV1,
    RhiTaskRequestedV1,
)
from services.router.directory import Organisation
from services.router.matching import MatchDecision
from services.router.policy_file import Policy


@dataclass(frozen=True)
class AwaitedRhiTask:
    """An RHI task to open at ``open_at`` unless the episode's ``returned`` comes first
    (``rhi_trigger = "found"``); its return time is the time the child was found."""

    task: RhiTaskRequestedV1
    open_at: datetime


@dataclass
class RoutingPlan:
    alerts: list[AlertRequestedV1] = field(default_factory=list)
    rhi_tasks: list[RhiTaskRequestedV1] = field(default_factory=list)
    reviews: list[IdentityReviewV1] = field(default_factory=list)
    awaiting_return: list[AwaitedRhiTask] = field(default_factory=list)

    @property
    def flags_repeat(self) -> bool:
        return any(a.kind is AlertKind.REPEAT_MISSING for a in self.alerts)

    def for_child(self, child_id: str) -> RoutingPlan:
        """The plan with every message naming the episode's child (the person index's
        ``child_id``, issue 20); ids do not change."""
        tag = {"child_id": child_id}
        return RoutingPlan(
            alerts=[a.model_copy(update=tag) for a in self.alerts],
            rhi_tasks=[t.model_copy(update=tag) for t in self.rhi_tasks],
            reviews=[r.model_copy(update=tag) for r in self.reviews],
            awaiting_return=[
                AwaitedRhiTask(w.task.model_copy(update=tag), w.open_at)
                for w in self.awaiting_return
            ],
        )


@functools.lru_cache(maxsize=1024)
def recipient(org: Organisation) -> RecipientV1:
    """The message's form of ``org`` (kept per organisation's values: an event's alerts
    name the same few, its authority and police force in each; issue 18)."""
    return RecipientV1(
        code=org.code,
        kind=org.kind,
        name=org.name,
        email=org.email,
        escalation_email=org.escalation_email,
        la_code=org.la_code,
        out_of_hours_email=org.out_of_hours_email,
    )


def high_risk(event: EpisodeEventV1) -> bool:
    if event.risk is None:
        return False
    return event.risk.grade is RiskGrade.HIGH or bool(
        EXPLOITATION_FACTORS.intersection(event.risk.factors)
    )


# Alerts about a child still missing; the others (found, returned, closed, a repeat
# flag for the next panel) ask for nothing that cannot wait for the usual deadline.
_URGENT_KINDS = frozenset({AlertKind.REPORTED, AlertKind.STILL_MISSING, AlertKind.RISK_CHANGED})


def urgent(event: EpisodeEventV1, kind: AlertKind) -> bool:
    """The alert's subject starts "URGENT" and a school has ``high_risk_hours`` of the
    school day to answer (the notifier's policy)."""
    return kind in _URGENT_KINDS and high_risk(event)


Summaries = tuple[ChildSummaryV1, EpisodeRefV1]


def summaries(event: EpisodeEventV1) -> Summaries:
    child = ChildSummaryV1(
        given_name=event.child.given_name,
        family_name=event.child.family_name,
        date_of_birth=event.child.date_of_birth,
    )
    episode = EpisodeRefV1(
        force_code=event.force_code,
        episode_ref=event.episode_ref,
        event_id=event.event_id,
        event_message_id=event.message_id,
        event_type=event.type,
        occurred_at=event.occurred_at,
    )
    return child, episode


def build_alert(
    event: EpisodeEventV1,
    org: Organisation,
    kind: AlertKind,
    reason: str,
    rule: str,
    record_id: str | None,
    now: datetime,
    authority: Organisation | None = None,
    police_force: Organisation | None = None,
    summarised: Summaries | None = None,
) -> AlertRequestedV1:
    """One alert; its id derives from (event, organisation, kind), so the same facts
    routed twice (a replay, a decision delivered again) give the same alert.
    ``authority`` (the responsible local authority) is told last if nobody acknowledges.
    ``summarised``: ``summaries(event)``, made once for an event's alerts."""
    child, episode = summarised or summaries(event)
    if org.kind is OrgKind.GP_PRACTICE and event.child.nhs_number:
        # How a practice finds its patient for sure; no other recipient is sent it.
        child = child.model_copy(update={"nhs_number": event.child.nhs_number})
    alert_id = derived_id(event.message_id, org.code, kind.value)
    return AlertRequestedV1(
        message_id=alert_id,
        alert_id=alert_id,
        kind=kind,
        recipient=recipient(org),
        child=child,
        episode=episode,
        police_contact=event.police_contact,
        reason=reason,
        policy_rule=rule,
        roll_record_id=record_id,
        requested_at=now,
        authority=recipient(authority) if authority is not None else None,
        urgent=urgent(event, kind),
        police_force=recipient(police_force) if police_force is not None else None,
    )


def rhi_task(
    event: EpisodeEventV1, la: Organisation, policy: Policy, now: datetime
) -> RhiTaskRequestedV1:
    """The return home interview the authority owes for ``event`` (``returned``, or a
    ``found`` no ``returned`` followed): due ``rhi_due_hours`` after it. Its id derives
    from (event, authority), so the same facts give the same task."""
    child, episode = summaries(event)
    task_id = derived_id(event.message_id, la.code, "rhi")
    return RhiTaskRequestedV1(
        message_id=task_id,
        task_id=task_id,
        authority=recipient(la),
        child=child,
        episode=episode,
        looked_after=event.child.looked_after,
        returned_at=event.occurred_at,
        due_at=event.occurred_at + timedelta(hours=policy.rhi_due_hours),
        requested_at=now,
    )


def _candidate(d: MatchDecision, organisations: Mapping[str, Organisation]) -> IdentityCandidateV1:
    org = organisations.get(d.org_code)
    return IdentityCandidateV1(
        org_code=d.org_code,
        roll_record_id=d.roll_record_id,
        score=d.score,
        explanation=dict(d.explanation),
        org_name=org.name if org is not None else None,
        given_name=d.record.given_name if d.record else None,
        family_name=d.record.family_name if d.record else None,
        date_of_birth=d.record.date_of_birth if d.record else None,
        postcode=d.record.postcode if d.record else None,
    )


def identity_reviews(
    event: EpisodeEventV1,
    matches: Sequence[MatchDecision],
    now: datetime,
    organisations: Mapping[str, Organisation],
) -> list[IdentityReviewV1]:
    """One review per organisation with undecided candidates; that organisation is not
    alerted until a person decides. Each candidate carries the roll record's name, date
    of birth and postcode, for the reviewer to set beside the police record."""
    by_org: dict[str, list[IdentityCandidateV1]] = {}
    for d in matches:
        if d.decision == "review":
            by_org.setdefault(d.org_code, []).append(_candidate(d, organisations))
    if not by_org:
        return []
    child, episode = summaries(event)
    reviews = []
    for org_code, candidates in by_org.items():
        review_id = derived_id(event.message_id, org_code, "review")
        reviews.append(
            IdentityReviewV1(
                message_id=review_id,
                review_id=review_id,
                episode=episode,
                child=child,
                candidates=candidates,
                requested_at=now,
            )
        )
    return reviews
