"""Pure projections from topic messages to read-model rows (no I/O).

Rows are plain dicts keyed by column name; the repository writes them with upserts.
Messages arrive at least once and in any order across topics, so every decision here is
a function of the facts, never of arrival order: an episode's summary is computed from
all its events, an alert's state is the latest by the time the notifier stamped on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from schemas.child_identity import ChildIdentityV1
from schemas.episode import EXPLOITATION_FACTORS, EpisodeEventV1
from schemas.identifiers import folded
from schemas.messages import (
    AlertRequestedV1,
    DeadLetterV1,
    IdentityDecisionV1,
    IdentityReviewV1,
    IngestRejectedV1,
    RhiTaskRequestedV1,
)
from services.console.privacy import birth_year, initials

Row = dict[str, Any]
LONDON = ZoneInfo("Europe/London")


def aware(moment: datetime) -> datetime:
    """Times on topics should carry an offset; one without is taken as UTC, not refused."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def episode_key(force_code: str, episode_ref: str) -> str:
    return f"{force_code}:{episode_ref}"


def folded_name(given_name: str, family_name: str) -> str:
    """A name with case, accents and punctuation folded: how the police's "found with"
    names a companion is looked up among the children of the period (network.py)."""
    return f"{folded(given_name)} {folded(family_name)}"


def _child_columns(
    given_name: str, family_name: str, date_of_birth: date, responsible_la: str | None
) -> Row:
    return {
        "given_name": given_name,
        "family_name": family_name,
        "date_of_birth": date_of_birth,
        "responsible_la": responsible_la,
    }


def event_row(event: EpisodeEventV1) -> Row:
    """An episode event: its facts, the child as the police record gives them, where
    the child was found and with whom."""
    child = event.child
    return {
        "message_id": event.message_id,
        "episode_key": event.episode_key,
        "event_id": event.event_id,
        "type": event.type.value,
        "occurred_at": event.occurred_at,
        "accepted_at": aware(event.accepted_at),
        "risk_grade": event.risk.grade.value if event.risk and event.risk.grade else None,
        "missing_from": event.missing_from.value if event.missing_from else None,
        "source": event.source,
        "initials": initials(event.child.given_name, event.child.family_name),
        "birth_year": birth_year(event.child.date_of_birth),
        "looked_after": event.child.looked_after,
        **_child_columns(
            child.given_name, child.family_name, child.date_of_birth, child.responsible_la
        ),
        "risk_factors": ",".join(event.risk.factors) if event.risk and event.risk.factors else None,
        "location_postcode": event.location.postcode if event.location else None,
        "location_description": event.location.description if event.location else None,
        "found_with": json.dumps(
            [
                {
                    "given_name": p.given_name,
                    "family_name": p.family_name,
                    "date_of_birth": p.date_of_birth.isoformat() if p.date_of_birth else None,
                }
                for p in event.found_with
            ]
        )
        if event.found_with
        else None,
        "reason": event.reason,
        "sex": child.sex,
        "home_district": district(child.postcode),
    }


_EPOCH = date(1970, 1, 1)


def reported_columns(
    reported_at: datetime | None, date_of_birth: date | None, risk_factors: str | None
) -> Row:
    """What the partnership's figures count of an episode, worked out once when it is
    written: when it was reported in local time, the child's age then, exploitation."""
    if reported_at is None:
        return {}
    local = aware(reported_at).astimezone(LONDON)
    on = local.date()
    age = (
        on.year
        - date_of_birth.year
        - ((on.month, on.day) < (date_of_birth.month, date_of_birth.day))
        if date_of_birth
        else None
    )
    factors = set(risk_factors.split(",")) if risk_factors else set()
    return {
        "reported_month": f"{on.year:04d}-{on.month:02d}",
        "reported_day": (on - _EPOCH).days,
        "reported_hour": local.hour,
        "reported_weekday": on.weekday(),
        "age_at_report": age,
        "exploitation": bool(factors & EXPLOITATION_FACTORS),
    }


def district(postcode: str | None) -> str | None:
    """A postcode's district (its outward code): ``NE61 1AA`` -> ``NE61``."""
    return postcode.split(" ", 1)[0][:4] if postcode else None


def _found_district(events: list[Mapping[Any, Any]]) -> str | None:
    found = [e for e in events if e["type"] in ("found", "returned") and e.get("location_postcode")]
    return district(found[-1]["location_postcode"]) if found else None


def summarise_episode(
    force_code: str, episode_ref: str, events: Iterable[Mapping[Any, Any]], now: datetime
) -> Row:
    """The episode row from all its event rows (as :func:`event_row` gives them)."""
    ordered = sorted(events, key=lambda e: (e["occurred_at"], e["accepted_at"], e["message_id"]))
    if not ordered:
        raise ValueError("an episode summary needs at least one event")
    latest = ordered[-1]
    graded = [e for e in ordered if e["risk_grade"]]
    factors = sorted(
        {f for e in ordered if e.get("risk_factors") for f in e["risk_factors"].split(",")}
    )
    with_authority = [e for e in ordered if e.get("responsible_la")]
    withdrawn = [e for e in ordered if e["type"] == "withdrawn"]
    joined = ",".join(factors)[:500] or None
    return {
        **reported_columns(ordered[0]["occurred_at"], latest.get("date_of_birth"), joined),
        "episode_key": episode_key(force_code, episode_ref),
        "force_code": force_code,
        "episode_ref": episode_ref,
        "initials": latest["initials"],
        "birth_year": latest["birth_year"],
        "looked_after": latest["looked_after"],
        "risk_grade": graded[-1]["risk_grade"] if graded else None,
        "latest_event_type": latest["type"],
        "latest_event_at": latest["occurred_at"],
        "first_event_at": ordered[0]["occurred_at"],
        "event_count": len(ordered),
        "updated_at": now,
        "given_name": latest.get("given_name"),
        "family_name": latest.get("family_name"),
        "date_of_birth": latest.get("date_of_birth"),
        "responsible_la": with_authority[-1]["responsible_la"] if with_authority else None,
        "risk_factors": joined,
        "withdrawn_at": withdrawn[0]["occurred_at"] if withdrawn else None,
        "withdrawn_reason": withdrawn[0].get("reason") if withdrawn else None,
        "sex": next((e["sex"] for e in reversed(ordered) if e.get("sex")), None),
        "home_district": next(
            (e["home_district"] for e in reversed(ordered) if e.get("home_district")), None
        ),
        "missing_from": next((e["missing_from"] for e in ordered if e.get("missing_from")), None),
        "found_district": _found_district(ordered),
    }


def episode_placeholder(alert: AlertRequestedV1 | RhiTaskRequestedV1, now: datetime) -> Row:
    """An episode row from an alert or task that overtook the episode's own events."""
    ref = alert.episode
    authority = alert.authority
    return {
        "episode_key": episode_key(ref.force_code, ref.episode_ref),
        "force_code": ref.force_code,
        "episode_ref": ref.episode_ref,
        "initials": initials(alert.child.given_name, alert.child.family_name),
        "birth_year": birth_year(alert.child.date_of_birth),
        "looked_after": None,
        "risk_grade": None,
        "latest_event_type": ref.event_type.value,
        "latest_event_at": aware(ref.occurred_at),
        "first_event_at": aware(ref.occurred_at),
        "event_count": 0,
        "updated_at": now,
        **_child_columns(
            alert.child.given_name,
            alert.child.family_name,
            alert.child.date_of_birth,
            authority.code if authority is not None else None,
        ),
        "risk_factors": None,
        "child_id": alert.child_id,
        **reported_columns(ref.occurred_at, alert.child.date_of_birth, None),
    }


def review_row(review: IdentityReviewV1) -> Row:
    ref = review.episode
    return {
        "review_id": review.review_id,
        "episode_key": episode_key(ref.force_code, ref.episode_ref),
        "requested_at": aware(review.requested_at),
        "candidate_count": len(review.candidates),
        "org_code": review.candidates[0].org_code if review.candidates else None,
        "child": review.child.model_dump_json(),
        "candidates": json.dumps([c.model_dump(mode="json") for c in review.candidates]),
        "question": review.question,
        "child_id": review.child_id,
    }


def child_link_row(link: ChildIdentityV1) -> Row:
    """Which child an episode belongs to as of ``revision`` (the highest wins)."""
    return {
        "episode_key": episode_key(link.force_code, link.episode_ref),
        "child_id": link.child_id,
        "revision": link.revision,
        "basis": link.basis.value,
        "previous_child_id": link.previous_child_id,
        "at": aware(link.at),
    }


def decision_row(decision: IdentityDecisionV1) -> Row:
    return {
        "review_id": decision.review_id,
        "decision": decision.decision,
        "decided_at": aware(decision.decided_at),
        "decided_by": decision.decided_by[:200],
        "roll_record_id": decision.roll_record_id if decision.decision == "match" else None,
    }


def episode_authority(alert: AlertRequestedV1 | RhiTaskRequestedV1) -> Row:
    """What an alert or task says of its episode's authorities: the responsible one (the
    router's decision) and, on an ``la-resident`` alert, where a looked-after child
    placed elsewhere lives."""
    row: Row = {}
    if alert.authority is not None:
        row["authority_code"] = alert.authority.code
    if isinstance(alert, AlertRequestedV1) and alert.policy_rule.endswith(".la-resident"):
        row["resident_la"] = alert.recipient.code
    return row


def reject_row(reject: IngestRejectedV1) -> Row:
    return {
        "message_id": reject.message_id,
        "received_at": aware(reject.received_at),
        "channel": reject.channel,
        "source": reject.source,
        "force_code": reject.force_code,
        "event_id": reject.event_id,
        "errors": json.dumps([e.model_dump() for e in reject.errors]),
    }


def dead_letter_row(letter: DeadLetterV1, dlq_topic: str) -> Row:
    """A dead letter without its payload (the payload may hold a child's details)."""
    return {
        "message_id": letter.message_id,
        "dlq_topic": dlq_topic,
        "topic": letter.topic,
        "consumer": letter.consumer,
        "error": letter.error,
        "failed_at": aware(letter.failed_at),
        "kafka_partition": letter.partition,
        "kafka_offset": letter.offset,
        "key": letter.key,
    }
