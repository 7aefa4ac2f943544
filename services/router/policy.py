"""Who must be told about an event (DESIGN §6; pure): the routing policy.

:func:`route` turns one episode event, the child's match decisions and the directory's
organisations into a :class:`RoutingPlan` of alerts, RHI tasks and identity reviews: one
small rule per event type (``_RULES``). :func:`route_decided` releases what a person's
``match`` decision allows for a held event, by the same rules. The partnership's choices
are :class:`Policy` (services/router/policy_file.py); the messages are built in
services/router/outgoing.py; ``recipient`` and ``PolicyError`` are re-exported here,
where callers know them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.episode import EpisodeEventV1, EventType
from schemas.messages import AlertKind, AlertRequestedV1, OrgKind
from services.router.directory import Organisation
from services.router.matching import MatchDecision
from services.router.outgoing import (
    AwaitedRhiTask,
    RoutingPlan,
    Summaries,
    build_alert,
    high_risk,
    identity_reviews,
    rhi_task,
    summaries,
)
from services.router.outgoing import recipient as recipient
from services.router.policy_file import SUPPORT_EVENTS, Policy, RhiTrigger
from services.router.policy_file import PolicyError as PolicyError

_MATCHED_KINDS = {
    OrgKind.SCHOOL: ("school", "on the school roll"),
    OrgKind.GP_PRACTICE: ("gp", "registered patient"),
    OrgKind.YOT: ("yot", "open YOT case"),
}


class NoResponsibleAuthorityError(Exception):
    """No local authority can be found for an event: it must not vanish silently."""


@dataclass(frozen=True)
class History:
    """What the router remembers about the child: when its episodes were reported."""

    reported_at: Sequence[datetime] = ()
    repeat_already_flagged: bool = False


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


def resident_authority(
    event: EpisodeEventV1,
    org: Organisation,
    organisations: Mapping[str, Organisation],
    told: str | None,
) -> Organisation | None:
    """For a looked-after child, the local authority where the child lives (``org``'s
    ``la_code``), told of support events besides ``told``, the authority already told."""
    if not event.child.looked_after or event.type not in SUPPORT_EVENTS:
        return None
    lives = organisations.get(org.la_code or "")
    if lives is None or lives.kind is not OrgKind.LOCAL_AUTHORITY or lives.code == told:
        return None
    return lives


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
    lives = resident_authority(event, org, organisations, event.child.responsible_la)
    if lives is not None:
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


class _Routing:
    """One event being routed: the plan so far, one alert per organisation and kind (the
    first reason stands), and the responsible authority, found when an alert first
    needs it."""

    def __init__(
        self,
        event: EpisodeEventV1,
        matches: Sequence[MatchDecision],
        organisations: Mapping[str, Organisation],
        history: History,
        policy: Policy,
        now: datetime,
    ) -> None:
        self.event = event
        self.matches = matches
        self.organisations = organisations
        self.history = history
        self.policy = policy
        self.now = now
        self.plan = RoutingPlan()
        self.matched = [
            (d, organisations[d.org_code])
            for d in matches
            if d.decision == "match" and d.org_code in organisations
        ]
        self.type = event.type.value
        self.force = police_force_of(event, organisations)
        self._sent: set[tuple[str, AlertKind]] = set()
        self._responsible: Organisation | None = None

    def authority(self) -> Organisation:
        if self._responsible is None:
            matched_orgs = [org for _, org in self.matched]
            self._responsible = responsible_authority(
                self.event, matched_orgs, self.organisations, self.policy
            )
        return self._responsible

    def alert(
        self,
        org: Organisation,
        reason: str,
        rule: str,
        record_id: str | None = None,
        kind: AlertKind | None = None,
    ) -> None:
        kind = kind or AlertKind(self.type)
        if (org.code, kind) in self._sent:
            return
        self._sent.add((org.code, kind))
        self.plan.alerts.append(
            build_alert(
                self.event,
                org,
                kind,
                reason,
                rule,
                record_id,
                self.now,
                self.authority(),
                self.force,
                self.summarised,
            )
        )

    @functools.cached_property
    def summarised(self) -> Summaries:
        """The child and the episode as every alert of the event names them."""
        return summaries(self.event)

    def tell_matched(self) -> None:
        """The organisations the child matched that the policy says are told."""
        for decision, org in self.matched:
            told = matched_rule(self.event, org, self.policy)
            if told is not None:
                self.alert(org, told[1], told[0], decision.roll_record_id)

    def tell_authority(self) -> Organisation:
        la = self.authority()
        # The authority's own record of the child, when the child matched its roll (its
        # looked-after children): the ``CHILD`` of its SSDA903 return (issue 21).
        own = next((d.roll_record_id for d, o in self.matched if o.code == la.code), None)
        self.alert(la, "responsible local authority", f"{self.type}.la", own)
        return la

    def ask_who(self) -> None:
        """Only events that would reach matched organisations ask who the child is."""
        self.plan.reviews = identity_reviews(self.event, self.matches, self.now, self.organisations)


def _support(r: _Routing) -> None:
    """``reported``, ``still-missing``, ``found``, ``returned``: the organisations that
    know the child, so they can support it, and the responsible authority."""
    la = r.authority()
    r.tell_matched()
    r.tell_authority()
    for _, org in r.matched:
        lives = resident_authority(r.event, org, r.organisations, la.code)
        if lives is not None:
            r.alert(lives, "local authority where the child lives", f"{r.type}.la-resident")
    if r.event.type is EventType.REPORTED:
        _tell_panel(r, la)
    _rhi(r, la)
    r.ask_who()


def _tell_panel(r: _Routing, la: Organisation) -> None:
    """A reported episode: the MSET panel (else the authority) when high risk, or when
    the child has gone missing ``repeat_threshold`` times in the window."""
    panel = mset_panel(la, r.organisations)
    if high_risk(r.event) and r.policy.tells("high-risk", OrgKind.MSET_PANEL):
        r.alert(panel or la, "MSET: high risk or exploitation", "reported.mset")
    if (
        not r.history.repeat_already_flagged
        and repeat_count(r.event, r.history, r.policy) >= r.policy.repeat_threshold
    ):
        r.alert(panel or la, "MSET: repeat missing", "repeat.mset", kind=AlertKind.REPEAT_MISSING)


def _rhi(r: _Routing, la: Organisation) -> None:
    """``returned`` opens the RHI task; with ``rhi_trigger = "found"``, ``found`` opens
    one later unless ``returned`` comes first."""
    if r.event.type is EventType.RETURNED:
        r.plan.rhi_tasks.append(rhi_task(r.event, la, r.policy, r.now))
    elif r.event.type is EventType.FOUND and r.policy.rhi_trigger is RhiTrigger.FOUND:
        r.plan.awaiting_return.append(
            AwaitedRhiTask(
                rhi_task(r.event, la, r.policy, r.now),
                r.event.occurred_at + timedelta(hours=r.policy.rhi_found_wait_hours),
            )
        )


def _risk_changed(r: _Routing) -> None:
    """Only a change to high risk (or exploitation) tells anyone: the matched
    organisations the policy names, the authority and the MSET panel."""
    if not high_risk(r.event):
        return
    la = r.authority()
    r.tell_matched()
    r.tell_authority()
    panel = mset_panel(la, r.organisations)
    if panel is not None and r.policy.tells("high-risk", OrgKind.MSET_PANEL):
        r.alert(panel, "MSET: high risk or exploitation", "risk-changed.mset")
    r.ask_who()


def _closed(r: _Routing) -> None:
    r.tell_authority()


def _withdrawn(r: _Routing) -> None:
    # One request, to the authority told of every episode: the notifier, which knows
    # what went out, asks each organisation told anything to disregard it.
    r.alert(r.authority(), "episode withdrawn by the police", "withdrawn.la")


_RULES: Mapping[EventType, Callable[[_Routing], None]] = {
    **{t: _support for t in SUPPORT_EVENTS},
    EventType.RISK_CHANGED: _risk_changed,
    EventType.CLOSED: _closed,
    EventType.WITHDRAWN: _withdrawn,
}


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
    routing = _Routing(event, matches, organisations, history, policy, now or event.accepted_at)
    rule = _RULES.get(event.type)
    if rule is not None:
        rule(routing)
    return routing.plan
