"""The router's decide steps (pure): who the child is on each roll, and who is told.

The handlers (services/router/handlers.py) load the facts, call these, and persist and
publish what they return, so the decisions are tested without a database or a broker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from schemas.episode import EpisodeEventV1
from schemas.messages import AlertRequestedV1
from services.router.directory import Organisation, RollRecord
from services.router.matching import MatchDecision, match_child
from services.router.model import MatchingModel
from services.router.policy import History, Policy, RoutingPlan, route, route_decided

# Rolls are kept in local dates: "on roll on that date" is the date in England and Wales.
LOCAL_TIME = ZoneInfo("Europe/London")

# A recipient's "we do not know this child" (services/router/disputes.py), per organisation.
DISPUTED, CONFIRMED, REFUTED = "disputed", "confirmed", "refuted"


def apply_disputes(
    decisions: Sequence[MatchDecision], states: Mapping[str, str]
) -> list[MatchDecision]:
    """A match to a disputed organisation is a review again, to a refuted one no match;
    a confirmed one stands."""
    out = []
    for d in decisions:
        state = states.get(d.org_code)
        if d.decision == "match" and state == DISPUTED:
            d = replace(d, decision="review")
        elif d.decision == "match" and state == REFUTED:
            d = replace(d, decision="no-match")
        out.append(d)
    return out


def identify(
    event: EpisodeEventV1,
    candidates: Sequence[RollRecord],
    disputes: Mapping[str, str],
    model: MatchingModel,
) -> list[MatchDecision]:
    """The child's match decision on each roll, on the date of the event in England and
    Wales, with the episode's disputes applied."""
    on = event.occurred_at.astimezone(LOCAL_TIME).date()
    return apply_disputes(match_child(event.child, candidates, on, model), disputes)


@dataclass(frozen=True)
class EpisodeFacts:
    """What the router knows when it routes an episode event: the child's match
    decisions, the person index's child, its reported history and the organisations
    the decisions name."""

    decisions: Sequence[MatchDecision]
    child_id: str
    history: History
    organisations: Mapping[str, Organisation]


def decide_episode(
    event: EpisodeEventV1, facts: EpisodeFacts, policy: Policy, now: datetime
) -> RoutingPlan:
    """The routing plan for ``event``, every message naming the child. Raises
    :class:`~services.router.policy.NoResponsibleAuthorityError` as :func:`route` does."""
    plan = route(event, facts.decisions, facts.organisations, facts.history, policy, now=now)
    return plan.for_child(facts.child_id)


def decide_match(
    event: EpisodeEventV1,
    org_code: str,
    roll_record_id: str,
    organisations: Mapping[str, Organisation],
    child_id: str | None,
    now: datetime,
) -> list[AlertRequestedV1]:
    """The alerts a person's ``match`` decision on a held review releases, naming the
    child (:func:`route_decided`, by the default policy as ever)."""
    return [
        a.model_copy(update={"child_id": child_id})
        for a in route_decided(event, org_code, roll_record_id, organisations, now=now)
    ]
