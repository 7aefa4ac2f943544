"""Who must be told about an event (DESIGN §6; pure): the routing policy.

:func:`route` turns one episode event, the child's match decisions and the directory's
organisations into a :class:`RoutingPlan` of alerts, RHI tasks and identity reviews.
Alerts carry only the child's name and date of birth and the episode reference: never
risk factors, locations, associates or police free text.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from schemas.base import derived_id
from schemas.episode import EXPLOITATION_FACTORS, EpisodeEventV1, EventType, RiskGrade
from schemas.identifiers import validate_gss_code
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

# Events that reach the child's school, GP practice, YOT and local authority.
SUPPORT_EVENTS = frozenset(
    {EventType.REPORTED, EventType.STILL_MISSING, EventType.FOUND, EventType.RETURNED}
)
_MATCHED_KINDS = {
    OrgKind.SCHOOL: ("school", "on the school roll"),
    OrgKind.GP_PRACTICE: ("gp", "registered patient"),
    OrgKind.YOT: ("yot", "open YOT case"),
}


# Top-level keys of the policy file that other services read (issue 17).
_OTHER_SERVICES_KEYS = frozenset({"operations_email"})


class RhiTrigger(StrEnum):
    """What opens a return home interview task (DESIGN §10, issue 21)."""

    RETURNED = "returned"  # the police's ``returned`` event (DESIGN §7)
    # ``returned`` as ever; and for a feed that sends ``found`` and never ``returned``, a
    # ``found`` with no ``returned`` within ``rhi_found_wait_hours`` (services/router/
    # awaiting_return.py waits from a due_at row, never in a handler).
    FOUND = "found"


class PolicyError(ValueError):
    """A policy file is wrong; the message names the key."""


class NoResponsibleAuthorityError(Exception):
    """No local authority can be found for an event: it must not vanish silently."""


_SUPPORT_KINDS = frozenset({OrgKind.SCHOOL, OrgKind.GP_PRACTICE, OrgKind.YOT})
# Who among the organisations the child matched is told, per event type; "high-risk"
# is a reported or risk-changed event graded high or with exploitation factors. The
# responsible local authority is told of every episode whatever this says (DESIGN §6).
DEFAULT_RECIPIENTS: Mapping[str, frozenset[OrgKind]] = {
    **{t.value: _SUPPORT_KINDS for t in SUPPORT_EVENTS},
    EventType.RISK_CHANGED.value: frozenset(),
    EventType.CLOSED.value: frozenset(),
    "high-risk": frozenset({OrgKind.YOT, OrgKind.MSET_PANEL}),
}


@dataclass(frozen=True)
class Policy:
    """A partnership's routing choices; the defaults are DESIGN §6."""

    repeat_threshold: int = 3
    repeat_window_days: int = 90
    default_la: str | None = None
    rhi_due_hours: int = 72
    rhi_trigger: RhiTrigger = RhiTrigger.RETURNED
    # With ``rhi_trigger = "found"``: how long after ``found`` a ``returned`` may still come.
    rhi_found_wait_hours: int = 24
    recipients: Mapping[str, frozenset[OrgKind]] = field(
        default_factory=lambda: dict(DEFAULT_RECIPIENTS)
    )

    def tells(self, situation: str, kind: OrgKind) -> bool:
        return kind in self.recipients.get(situation, frozenset())

    @classmethod
    def from_toml(cls, path: Path) -> Policy:
        """Read ``[routing]`` (or top-level) keys from a TOML file."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise PolicyError(f"{path}: {exc}") from exc
        table = data.get("routing", data)
        known = {f.name for f in fields(cls)} - {"recipients"}
        values: dict[str, object] = {}
        for key, value in table.items():
            if key not in known:
                if isinstance(value, dict) or key in _OTHER_SERVICES_KEYS:
                    continue  # another section (e.g. [deadlines]) belongs to another service
                raise PolicyError(f"{path}: unknown key {key!r}; known: {', '.join(sorted(known))}")
            if key == "default_la":
                if not isinstance(value, str):
                    raise PolicyError(f"{path}: default_la: a GSS code string, e.g. E06000057")
                try:
                    values[key] = validate_gss_code(value)
                except ValueError as exc:
                    raise PolicyError(f"{path}: default_la: {exc}") from exc
            elif key == "rhi_trigger":
                if value not in {t.value for t in RhiTrigger}:
                    raise PolicyError(f'{path}: rhi_trigger: "returned" or "found", not {value!r}')
                values[key] = RhiTrigger(value)
            else:
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise PolicyError(f"{path}: {key}: a whole number of at least 1")
                values[key] = value
        values["recipients"] = _recipients(data.get("recipients", {}), path)
        policy = cls(**values)  # type: ignore[arg-type]
        if policy.rhi_found_wait_hours >= policy.rhi_due_hours:
            # The task would be born overdue: the wait must leave time for the interview.
            raise PolicyError(
                f"{path}: rhi_found_wait_hours: less than rhi_due_hours "
                f"({policy.rhi_due_hours}), not {policy.rhi_found_wait_hours}"
            )
        return policy


def _recipients(table: object, path: Path) -> dict[str, frozenset[OrgKind]]:
    """``[recipients]``: event type (or ``high-risk``) = list of organisation kinds."""
    if not isinstance(table, dict):
        raise PolicyError(f"{path}: [recipients] must be a table")
    chosen = dict(DEFAULT_RECIPIENTS)
    allowed = {k.value for k in (*_SUPPORT_KINDS, OrgKind.MSET_PANEL, OrgKind.LOCAL_AUTHORITY)}
    for key, kinds in table.items():
        where = f"{path}: [recipients] {key}"
        if key not in DEFAULT_RECIPIENTS:
            raise PolicyError(f"{where}: unknown; known: {', '.join(DEFAULT_RECIPIENTS)}")
        if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
            raise PolicyError(f'{where}: a list of organisation kinds, e.g. ["school", "yot"]')
        unknown = [k for k in kinds if k not in allowed]
        if unknown:
            raise PolicyError(
                f"{where}: {', '.join(map(repr, unknown))} not an organisation kind; one of "
                f"{', '.join(sorted(allowed))}"
            )
        # The local authority is always told; listing it changes nothing.
        chosen[key] = frozenset(OrgKind(k) for k in kinds) - {OrgKind.LOCAL_AUTHORITY}
    return chosen


@dataclass(frozen=True)
class History:
    """What the router remembers about the child: when its episodes were reported."""

    reported_at: Sequence[datetime] = ()
    repeat_already_flagged: bool = False


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


def recipient(org: Organisation) -> RecipientV1:
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


def responsible_authority(
    event: EpisodeEventV1,
    matched: Sequence[Organisation],
    organisations: Mapping[str, Organisation],
    policy: Policy,
) -> Organisation:
    """``child.responsible_la``, else the matched organisations' authority, else the
    policy's default, else the only local authority in the directory."""
    las = {c: o for c, o in organisations.items() if o.kind is OrgKind.LOCAL_AUTHORITY}
    tried: list[str] = []
    codes: list[str | None] = [event.child.responsible_la]
    # Prefer the school's authority, then the GP's, then the YOT's, for a stable answer.
    order = {
        OrgKind.LOCAL_AUTHORITY: 0,
        OrgKind.SCHOOL: 1,
        OrgKind.GP_PRACTICE: 2,
        OrgKind.YOT: 3,
        OrgKind.MSET_PANEL: 4,
    }
    codes += [o.la_code for o in sorted(matched, key=lambda o: (order[o.kind], o.code))]
    codes.append(policy.default_la)
    for code in codes:
        if code is None:
            continue
        if code in las:
            return las[code]
        tried.append(code)
    if len(las) == 1:
        return next(iter(las.values()))
    detail = (
        f" (not in the directory: {', '.join(dict.fromkeys(tried))})"
        if tried
        else f" ({len(las)} local authorities imported, none named for this child)"
    )
    raise NoResponsibleAuthorityError(
        f"no responsible local authority for event {event.message_id}{detail}"
    )


def police_force_of(
    event: EpisodeEventV1, organisations: Mapping[str, Organisation]
) -> Organisation | None:
    """The event's force in the directory (kind ``police-force``): where recipients'
    answers go when the event names no police contact email."""
    force = organisations.get(event.force_code)
    return force if force is not None and force.kind is OrgKind.POLICE_FORCE else None


def mset_panel(
    responsible: Organisation | None, organisations: Mapping[str, Organisation]
) -> Organisation | None:
    panels = [o for o in organisations.values() if o.kind is OrgKind.MSET_PANEL]
    if responsible is not None:
        for panel in panels:
            if panel.la_code == responsible.code:
                return panel
    return panels[0] if len(panels) == 1 else None


def repeat_count(event: EpisodeEventV1, history: History, policy: Policy) -> int:
    since = event.occurred_at - timedelta(days=policy.repeat_window_days)
    return sum(1 for at in history.reported_at if since <= at <= event.occurred_at)


def _summaries(event: EpisodeEventV1) -> tuple[ChildSummaryV1, EpisodeRefV1]:
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
) -> AlertRequestedV1:
    """One alert; its id derives from (event, organisation, kind), so the same facts
    routed twice (a replay, a decision delivered again) give the same alert.
    ``authority`` (the responsible local authority) is told last if nobody acknowledges."""
    child, episode = _summaries(event)
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


def matched_rule(
    event: EpisodeEventV1, org: Organisation, policy: Policy | None = None
) -> tuple[str, str] | None:
    """``(policy rule, reason)`` when ``event`` must reach ``org`` because the child is
    on its roll, else None. The one place that says which matched organisations are told."""
    policy = policy or Policy()
    if org.kind not in _MATCHED_KINDS:
        return None
    rule, reason = _MATCHED_KINDS[org.kind]
    if policy.tells(event.type.value, org.kind):
        return f"{event.type.value}.{rule}", reason
    if (
        event.type in (EventType.REPORTED, EventType.RISK_CHANGED)
        and high_risk(event)
        and policy.tells("high-risk", org.kind)
    ):
        return f"{event.type.value}.{rule}", reason
    return None


def route_decided(
    event: EpisodeEventV1,
    org_code: str,
    roll_record_id: str,
    organisations: Mapping[str, Organisation],
    now: datetime,
    policy: Policy | None = None,
) -> list[AlertRequestedV1]:
    """The alerts a person's ``match`` decision releases for a held event: what
    :func:`route` would have sent ``org_code`` had the child matched ``roll_record_id``.

    The responsible authority was told when the event arrived and is not told again. For
    a looked-after child the authority where the child lives (the organisation's
    ``la_code``) is told too, as :func:`route` does; if that is the responsible authority,
    the alert id is the one it already had, so nobody hears twice.
    """
    org = organisations.get(org_code)
    if org is None:
        return []
    told = matched_rule(event, org, policy)
    if told is None:
        return []
    rule, reason = told
    kind = AlertKind(event.type.value)
    try:
        la: Organisation | None = responsible_authority(
            event, [org], organisations, policy or Policy()
        )
    except NoResponsibleAuthorityError:
        la = None  # the alert still goes; only its last escalation step is missing
    force = police_force_of(event, organisations)
    alerts = [build_alert(event, org, kind, reason, rule, roll_record_id, now, la, force)]
    lives = organisations.get(org.la_code or "")
    if (
        event.child.looked_after
        and event.type in SUPPORT_EVENTS
        and lives is not None
        and lives.kind is OrgKind.LOCAL_AUTHORITY
        and lives.code != event.child.responsible_la
    ):
        alerts.append(
            build_alert(
                event,
                lives,
                kind,
                "local authority where the child lives",
                f"{event.type.value}.la-resident",
                None,
                now,
                la,
                force,
            )
        )
    return alerts


def rhi_task(
    event: EpisodeEventV1, la: Organisation, policy: Policy, now: datetime
) -> RhiTaskRequestedV1:
    """The return home interview the authority owes for ``event`` (``returned``, or a
    ``found`` no ``returned`` followed): due ``rhi_due_hours`` after it. Its id derives
    from (event, authority), so the same facts give the same task."""
    child, episode = _summaries(event)
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


def route(
    event: EpisodeEventV1,
    matches: Sequence[MatchDecision],
    organisations: Mapping[str, Organisation],
    history: History,
    policy: Policy,
    now: datetime | None = None,
) -> RoutingPlan:
    """The default policy of DESIGN §6. Raises :class:`NoResponsibleAuthorityError` when
    the event must reach a local authority and none can be found."""
    now = now or event.accepted_at
    plan = RoutingPlan()
    child, episode = _summaries(event)
    matched = [
        (d, organisations[d.org_code])
        for d in matches
        if d.decision == "match" and d.org_code in organisations
    ]
    matched_orgs = [org for _, org in matched]
    type_ = event.type.value
    sent: set[tuple[str, AlertKind]] = set()
    force = police_force_of(event, organisations)
    responsible: list[Organisation] = []  # found once, when an alert first needs it

    def alert(
        org: Organisation,
        reason: str,
        rule: str,
        record_id: str | None = None,
        kind: AlertKind | None = None,
    ) -> None:
        kind = kind or AlertKind(type_)
        if (org.code, kind) in sent:
            return  # one alert per organisation and kind; the first reason stands
        sent.add((org.code, kind))
        plan.alerts.append(
            build_alert(event, org, kind, reason, rule, record_id, now, authority(), force)
        )

    def authority() -> Organisation:
        if not responsible:
            responsible.append(responsible_authority(event, matched_orgs, organisations, policy))
        return responsible[0]

    def on_own_roll(org: Organisation) -> str | None:
        """The authority's own record of the child, when the child matched its roll (its
        looked-after children): the ``CHILD`` of its SSDA903 return (issue 21)."""
        return next((d.roll_record_id for d, o in matched if o.code == org.code), None)

    if event.type in SUPPORT_EVENTS:
        la = authority()
        for decision, org in matched:
            told = matched_rule(event, org, policy)
            if told is not None:
                alert(org, told[1], told[0], decision.roll_record_id)
        alert(la, "responsible local authority", f"{type_}.la", on_own_roll(la))
        if event.child.looked_after:
            for org in matched_orgs:
                lives = organisations.get(org.la_code or "")
                if (
                    lives is not None
                    and lives.kind is OrgKind.LOCAL_AUTHORITY
                    and lives.code != la.code
                ):
                    alert(lives, "local authority where the child lives", f"{type_}.la-resident")
        if event.type is EventType.REPORTED:
            panel = mset_panel(la, organisations)
            if high_risk(event) and policy.tells("high-risk", OrgKind.MSET_PANEL):
                alert(panel or la, "MSET: high risk or exploitation", "reported.mset")
            if (
                not history.repeat_already_flagged
                and repeat_count(event, history, policy) >= policy.repeat_threshold
            ):
                alert(
                    panel or la,
                    "MSET: repeat missing",
                    "repeat.mset",
                    kind=AlertKind.REPEAT_MISSING,
                )
        if event.type is EventType.RETURNED:
            plan.rhi_tasks.append(rhi_task(event, la, policy, now))
        elif event.type is EventType.FOUND and policy.rhi_trigger is RhiTrigger.FOUND:
            plan.awaiting_return.append(
                AwaitedRhiTask(
                    rhi_task(event, la, policy, now),
                    event.occurred_at + timedelta(hours=policy.rhi_found_wait_hours),
                )
            )
    elif event.type is EventType.RISK_CHANGED:
        if high_risk(event):
            la = authority()
            for decision, org in matched:
                told = matched_rule(event, org, policy)
                if told is not None:
                    alert(org, told[1], told[0], decision.roll_record_id)
            alert(la, "responsible local authority", "risk-changed.la", on_own_roll(la))
            panel = mset_panel(la, organisations)
            if panel is not None and policy.tells("high-risk", OrgKind.MSET_PANEL):
                alert(panel, "MSET: high risk or exploitation", "risk-changed.mset")
    elif event.type is EventType.CLOSED:
        la = authority()
        alert(la, "responsible local authority", "closed.la", on_own_roll(la))
    elif event.type is EventType.WITHDRAWN:
        # One request, to the authority told of every episode: the notifier, which knows
        # what went out, asks each organisation told anything to disregard it.
        alert(authority(), "episode withdrawn by the police", "withdrawn.la")

    if event.type in SUPPORT_EVENTS or (event.type is EventType.RISK_CHANGED and high_risk(event)):
        # Only events that would reach matched organisations ask who the child is.
        plan.reviews = _reviews(event, matches, child, episode, now, organisations)
    return plan


def _reviews(
    event: EpisodeEventV1,
    matches: Sequence[MatchDecision],
    child: ChildSummaryV1,
    episode: EpisodeRefV1,
    now: datetime,
    organisations: Mapping[str, Organisation],
) -> list[IdentityReviewV1]:
    """One review per organisation with undecided candidates; that organisation is not
    alerted until a person decides. Each candidate carries the roll record's name, date
    of birth and postcode, for the reviewer to set beside the police record."""
    by_org: dict[str, list[IdentityCandidateV1]] = {}
    for d in matches:
        if d.decision == "review":
            by_org.setdefault(d.org_code, []).append(
                IdentityCandidateV1(
                    org_code=d.org_code,
                    roll_record_id=d.roll_record_id,
                    score=d.score,
                    explanation=dict(d.explanation),
                    org_name=organisations[d.org_code].name
                    if d.org_code in organisations
                    else None,
                    given_name=d.record.given_name if d.record else None,
                    family_name=d.record.family_name if d.record else None,
                    date_of_birth=d.record.date_of_birth if d.record else None,
                    postcode=d.record.postcode if d.record else None,
                )
            )
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
