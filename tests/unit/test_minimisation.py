"""Data minimisation of alerts (DESIGN §7; issue "Security and data protection", point 4).

Every email template, for every event type, is rendered from a full police event the way
production builds it: the router's policy turns the event into alert requests (and RHI
tasks), the notifier makes them into the content its templates see (from the request, or
from the alert and task rows its escalations and reminders are raised from), and the
renderer writes subject, text and HTML. Nothing of the event beyond the child's name and
date of birth, the police reference and contact may come out at the end: no risk
factors, no location, no associates, no police free text, no identifiers.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import fields, replace
from datetime import UTC, date, datetime, timedelta

import pytest

from schemas.base import derived_id
from schemas.catalogue import ALERTS_REQUESTED, RHI_TASKS_REQUESTED
from schemas.episode import EpisodeEventV1, EventType
from schemas.messages import (
    NOTIFIER_KINDS,
    AlertKind,
    AlertRequestedV1,
    OrgKind,
    RhiTaskRequestedV1,
)
from services.notifier import out_of_hours
from services.notifier.escalation import AUTHORITY, CONTACT, Contact, next_escalation
from services.notifier.model import Alert, RhiTask, raised_alert
from services.notifier.rendering import TEMPLATES, AlertContent, RenderedEmail, Renderer
from services.notifier.tables import alerts as alert_table
from services.router.directory import Organisation
from services.router.matching import MatchDecision
from services.router.policy import History, Policy, RoutingPlan, build_alert, route

AT = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
NOW = AT + timedelta(minutes=1)
LA = "E06000057"
ORGS = {
    o.code: o
    for o in [
        Organisation(
            "100001",
            OrgKind.SCHOOL,
            "Morpeth School",
            "dsl@school.example",
            escalation_email="head@school.example",
            la_code=LA,
        ),
        Organisation("A81001", OrgKind.GP_PRACTICE, "Surgery", "gp@nhs.example", la_code=LA),
        Organisation("YOT-NLD", OrgKind.YOT, "Youth Justice", "yot@n.example", la_code=LA),
        Organisation(
            LA,
            OrgKind.LOCAL_AUTHORITY,
            "Northumberland",
            "mc@n.example",
            escalation_email="duty@n.example",
            la_code=LA,
        ),
        Organisation("MSET-NLD", OrgKind.MSET_PANEL, "MSET", "mset@n.example", la_code=LA),
    ]
}
BY_KIND = {o.kind: o for o in ORGS.values()}

# What may reach an email, and must.
GIVEN, FAMILY = "Ottoline", "Quenby-Marsh"
CHILD_NAME = f"{GIVEN} {FAMILY}"
DOB_LONG = "4 March 2012"
POLICE_REF = "10/MP-2026-0457"
CONTACT_NAME = "PC Wendell Harrow"

# What the police event carries and no email may show: (label, pattern). First the
# event's own values...
VALUES: list[tuple[str, str]] = [
    # Risk factors, as sent.
    *[
        (f"risk factor {f}", rf"\b{re.escape(f)}\b")
        for f in ("cse", "cce", "county-lines", "trafficking", "self-harm", "mental-health")
    ],
    ("risk factor (distinctive)", r"xq-marmoset-factor"),
    # Where the child was found.
    ("location postcode", r"DH1\s*7QX"),
    ("location description", r"Quokka Arcade|Tern Street"),
    # Associates (found_with): names and date of birth.
    ("associate", r"Wilhelmina|Drabblecote|Caspian|Yelverton"),
    ("associate birth date", r"2010-06-07|7 June 2010"),
    # The child's other details: police free text and identifiers.
    ("child postcode", r"NE61\s*9ZQ"),
    ("child address", r"Quillfeather"),
    ("NHS number", r"738\s*261\s*9451"),
    ("UPN", r"N301234567890"),
    ("missing from", r"missing from care"),
    ("source system", r"niche-feed-7"),
]
# ...then the risk put into words: an email must not say a child is at high risk or
# exploited (the MSET panel's routing reason says so, internally: see below).
SECRETS = [
    *VALUES,
    ("risk factor words", r"county lines|mental health|self harm|exploit"),
    ("risk grade", r"high risk|high-risk|risk grade|graded"),
]
# The NHS number is the one identifier a GP practice's alert carries (and shows), when
# the police sent one: how a practice finds its patient for sure. Nobody else sees it.
NHS_NUMBER_SHOWN = "738 261 9451"
NHS_NUMBER_DIGITS = "7382619451"


def secrets_for(recipient_kind: str, secrets: list[tuple[str, str]]) -> list[tuple[str, str]]:
    if recipient_kind != OrgKind.GP_PRACTICE.value:
        return secrets
    return [s for s in secrets if s[0] != "NHS number" and "nhs_number" not in s[1]]


# The alert request carries the child's summary and the police contact; on the wire it
# must carry none of these (their values or their field names).
MESSAGE_SECRETS = [
    *SECRETS,
    ("field risk", r'"risk"|"factors"|"grade"'),
    ("field location", r'"location"|"description"'),
    ("field found_with", r'"found_with"'),
    ("field identifiers", r'"nhs_number"|"upn"|"postcode"|"address"|"missing_from"'),
]


def full_event(type_: EventType) -> EpisodeEventV1:
    """An accepted event with every field filled, with values no template could invent."""
    return EpisodeEventV1.model_validate(
        {
            "message_id": str(uuid.uuid4()),
            "event_id": f"ev-{type_.value}",
            "type": type_.value,
            "occurred_at": AT.isoformat(),
            "force_code": "10",
            "episode_ref": "MP-2026-0457",
            "child": {
                "given_name": GIVEN,
                "family_name": FAMILY,
                "date_of_birth": "2012-03-04",
                "sex": "F",
                "postcode": "NE61 9ZQ",
                "address": "17 Quillfeather Lane, Morpeth",
                "nhs_number": "738 261 9451",
                "upn": "N301234567890",
                "looked_after": True,
                "responsible_la": LA,
            },
            # High grade and exploitation factors: the widest routing (MSET, YOT).
            "risk": {
                "grade": "high",
                "factors": [
                    "cse",
                    "cce",
                    "county-lines",
                    "trafficking",
                    "self-harm",
                    "mental-health",
                    "xq-marmoset-factor",
                ],
            },
            "missing_from": "care",
            # Police free text: on a withdrawal only, and never in any email.
            "reason": "Raised for the wrong child, seen behind the Quokka Arcade"
            if type_ is EventType.WITHDRAWN
            else None,
            "location": {
                "postcode": "DH1 7QX",
                "description": "Behind the Quokka Arcade on Tern Street, with two older men",
            },
            "found_with": [
                {
                    "given_name": "Wilhelmina",
                    "family_name": "Drabblecote",
                    "date_of_birth": "2010-06-07",
                },
                {"given_name": "Caspian", "family_name": "Yelverton"},
            ],
            "police_contact": {
                "name": CONTACT_NAME,
                "phone": "0191 555 0199",
                "email": "w.harrow@northumbria.police.example",
            },
            "accepted_at": AT.isoformat(),
            "source": "http:niche-feed-7",
        }
    )


def plan_for(event: EpisodeEventV1) -> RoutingPlan:
    """The router's real policy, the child on every roll and reported twice before."""
    matches = [
        MatchDecision("match", code, f"R-{code}", 1.0, {"nhs_number": "agree"})
        for code, org in ORGS.items()
        if org.kind in (OrgKind.SCHOOL, OrgKind.GP_PRACTICE, OrgKind.YOT)
    ]
    history = History(reported_at=[AT - timedelta(days=20), AT - timedelta(days=10), AT])
    return route(event, matches, ORGS, history, Policy(), now=NOW)


def requested_alert(event: EpisodeEventV1, plan: RoutingPlan, kind: OrgKind) -> AlertRequestedV1:
    """The routed alert to an organisation of ``kind``; when the policy tells no such
    organisation of this event type, the alert its own builder would make for it (a
    partnership's policy file may choose other recipients)."""
    for alert in plan.alerts:
        if alert.recipient.kind is kind and alert.kind.value == event.type.value:
            return alert
    org = BY_KIND[kind]
    return build_alert(
        event,
        org,
        AlertKind(event.type.value),
        "policy file",
        "test",
        None,
        NOW,
        BY_KIND[OrgKind.LOCAL_AUTHORITY],
    )


def stored(m: AlertRequestedV1 | RhiTaskRequestedV1) -> Alert | RhiTask:
    """The alert or task as the notifier stores it from the message (its model)."""
    if isinstance(m, AlertRequestedV1):
        return Alert.requested(m, NOW, None)
    return RhiTask.requested(m, NOW, m.due_at, None)


def raised_content(alert: Alert) -> AlertContent:
    """A raised alert as the scheduler reads it back: unset columns as the table
    defaults them (the model's defaults are the table's)."""
    assert {f.name for f in fields(Alert)} == {c.name for c in alert_table.columns}
    return AlertContent.from_alert(alert)


def escalation_content(alert: AlertRequestedV1, level: int) -> AlertContent:
    """What ``FollowUps._escalate`` raises for ``alert`` at ``level`` (contact, then
    the responsible authority)."""
    recipient = Contact(alert.recipient.code, alert.recipient.name, alert.recipient.email)
    authority = alert.authority
    assert authority is not None
    step = next_escalation(
        level - 1,
        recipient,
        alert.recipient.escalation_email,
        Contact(authority.code, authority.name, authority.email),
    )
    assert step is not None and step.level == level
    values = raised_alert(
        step.alert_id(alert.alert_id),
        step.kind,
        step.to,
        alert.recipient.kind if level == CONTACT else OrgKind.LOCAL_AUTHORITY,
        stored(alert),
        f"alert to {alert.recipient.name} not acknowledged by its deadline",
        "escalation.test",
        NOW,
        parent_alert_id=alert.alert_id,
        about_recipient_name=alert.recipient.name,
    )
    return raised_content(values)


def rhi_content(event: EpisodeEventV1, plan: RoutingPlan, kind: AlertKind) -> AlertContent:
    """What ``FollowUps._raise_for_task`` raises from the task row. Only ``returned``
    requests a task; for other types the task is the one the authority's alert would
    give (same child and episode summaries from the router)."""
    if plan.rhi_tasks:
        task = plan.rhi_tasks[0]
    else:
        la = requested_alert(event, plan, OrgKind.LOCAL_AUTHORITY)
        task = RhiTaskRequestedV1(
            message_id="task",
            task_id="task",
            authority=la.recipient,
            child=la.child,
            episode=la.episode,
            returned_at=event.occurred_at,
            due_at=event.occurred_at + timedelta(hours=72),
            requested_at=NOW,
        )
    values = raised_alert(
        derived_id(task.task_id, kind.value),
        kind,
        Contact(task.authority.code, task.authority.name, task.authority.email),
        OrgKind.LOCAL_AUTHORITY,
        stored(task),
        "return home interview: no outcome recorded yet",
        "rhi.test",
        NOW,
        task_id=task.task_id,
        respond_by=task.due_at,
    )
    return raised_content(values)


def out_of_hours_content(alert: AlertRequestedV1) -> AlertContent:
    """What ``out_of_hours.tell_out_of_hours_team`` raises for the authority's alert."""
    authority_alert = replace(
        Alert.requested(alert, NOW, None), recipient_out_of_hours_email="edt@n.example"
    )
    return raised_content(out_of_hours.notice_values(authority_alert, NOW))


def content_for(folder: str, event: EpisodeEventV1) -> AlertContent:
    plan = plan_for(event)
    if folder in {k.value for k in OrgKind}:
        return AlertContent.from_request(requested_alert(event, plan, OrgKind(folder)))
    kind = AlertKind(folder)
    if kind in (AlertKind.WITHDRAWN, AlertKind.ANSWER):
        # A notice about an alert of this event (for a withdrawn event, the one request).
        told = AlertContent.from_request(plan.alerts[0])
        return replace(
            told,
            kind=kind.value,
            recipient_kind=(
                OrgKind.POLICE_FORCE.value if kind is AlertKind.ANSWER else told.recipient_kind
            ),
            about_recipient_name="Hillside Primary",
            about_alert_ids=told.alert_id,
            answer="here-now" if kind is AlertKind.ANSWER else None,
            answered_at=AT if kind is AlertKind.ANSWER else None,
        )
    school = requested_alert(event, plan, OrgKind.SCHOOL)
    if kind is AlertKind.ESCALATION:
        return escalation_content(school, CONTACT)
    if kind is AlertKind.AUTHORITY_ESCALATION:
        return escalation_content(school, AUTHORITY)
    if kind is AlertKind.OUT_OF_HOURS:
        return out_of_hours_content(requested_alert(event, plan, OrgKind.LOCAL_AUTHORITY))
    return rhi_content(event, plan, kind)


def renderer() -> Renderer:
    return Renderer("https://console.example/", "Relay <relay@relay.example>")


def leaks(text: str, secrets: list[tuple[str, str]] = SECRETS) -> list[str]:
    return [label for label, pattern in secrets if re.search(pattern, text, re.IGNORECASE)]


def parts(email: RenderedEmail) -> dict[str, str]:
    # HTML escapes would hide nothing here (no quotes or ampersands in the values), but
    # unescape a few so a leak cannot hide behind them either.
    html = email.html.replace("&#39;", "'").replace("&amp;", "&").replace("&#34;", '"')
    return {"subject": email.subject, "text": email.text, "html": html}


# The police are never a routed recipient: they hear only answers (the "answer" folder).
ROUTED_KINDS = [k.value for k in OrgKind if k is not OrgKind.POLICE_FORCE]
TEMPLATE_FOLDERS = sorted(ROUTED_KINDS + [k.value for k in NOTIFIER_KINDS])
# A withdrawn event is routed only as the notifier's withdrawal notice.
FOLDER_CASES = [
    (folder, t.value)
    for folder in TEMPLATE_FOLDERS
    for t in EventType
    # A withdrawn event is told only by its notice: nothing escalates or reminds about it.
    if t is not EventType.WITHDRAWN or folder == AlertKind.WITHDRAWN.value
]


def test_every_template_folder_is_covered() -> None:
    on_disk = sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir() and p.name != "_shared")
    assert on_disk == TEMPLATE_FOLDERS


@pytest.mark.parametrize(("folder", "event_type"), FOLDER_CASES)
def test_template_shows_the_child_and_nothing_else_of_the_event(
    folder: str, event_type: str
) -> None:
    event = full_event(EventType(event_type))
    content = content_for(folder, event)
    # The right template is exercised: a recipient kind's folder, or the notifier's own.
    assert (content.kind if content.kind in NOTIFIER_KINDS else content.recipient_kind) == folder
    assert content.event_type == event_type

    rendered = parts(renderer().render(content))

    secrets = secrets_for(folder, SECRETS)
    for part, text in rendered.items():
        assert not leaks(text, secrets), f"{folder}/{event_type} {part} shows {leaks(text)}"
    if folder == OrgKind.GP_PRACTICE.value:
        assert NHS_NUMBER_SHOWN in rendered["text"] and NHS_NUMBER_SHOWN in rendered["html"]
        assert NHS_NUMBER_SHOWN not in rendered["subject"]
    # Still useful: who, born when, which police episode (name not in the subject,
    # which mail lists and lock screens show).
    assert POLICE_REF in rendered["subject"]
    assert GIVEN not in rendered["subject"] and FAMILY not in rendered["subject"]
    for part in ("text", "html"):
        assert CHILD_NAME in rendered[part], f"{folder}/{event_type} {part}: no child name"
        assert DOB_LONG in rendered[part], f"{folder}/{event_type} {part}: no date of birth"
        assert POLICE_REF in rendered[part], f"{folder}/{event_type} {part}: no police ref"
        if content.kind not in NOTIFIER_KINDS:
            assert CONTACT_NAME in rendered[part], f"{folder}/{event_type} {part}: no contact"


@pytest.mark.parametrize("event_type", [t.value for t in EventType])
def test_every_routed_alert_renders_without_the_event_details(event_type: str) -> None:
    """Whatever the default policy sends for a full event (repeat-missing and
    looked-after alerts included) renders clean too."""
    plan = plan_for(full_event(EventType(event_type)))
    assert plan.alerts
    for alert in plan.alerts:
        rendered = parts(renderer().render(AlertContent.from_request(alert)))
        where = f"{alert.recipient.kind.value}/{alert.kind.value}"
        secrets = secrets_for(alert.recipient.kind.value, SECRETS)
        for part, text in rendered.items():
            assert not leaks(text, secrets), f"{where} {part} shows {leaks(text, secrets)}"
        assert CHILD_NAME in rendered["text"] and CHILD_NAME in rendered["html"], where


@pytest.mark.parametrize("event_type", [t.value for t in EventType])
def test_alert_and_task_requests_carry_only_the_child_summary(event_type: str) -> None:
    """On the wire (``alerts-requested.v1``, ``rhi-tasks-requested.v1``): the child's
    name and date of birth, the episode reference and the police contact; nothing else."""
    plan = plan_for(full_event(EventType(event_type)))
    messages: list[AlertRequestedV1 | RhiTaskRequestedV1] = [*plan.alerts, *plan.rhi_tasks]
    assert messages
    assert bool(plan.rhi_tasks) is (event_type == "returned")
    for message in messages:
        topic = ALERTS_REQUESTED if isinstance(message, AlertRequestedV1) else RHI_TASKS_REQUESTED
        # The routing reason and rule are the router's own fixed words ("MSET: high risk
        # or exploitation" for the panel): no value of the event, and never in an email
        # (the rendering tests above would see them).
        why = {"reason", "policy_rule"}
        # The child's NHS number field is there for a GP practice's alert (checked below).
        wire = message.model_dump_json(
            exclude={**dict.fromkeys(why, True), "child": {"nhs_number"}}
        )
        assert not leaks(wire, MESSAGE_SECRETS), f"{topic}: {leaks(wire, MESSAGE_SECRETS)}"
        for name in why & set(type(message).model_fields):
            said = str(getattr(message, name))
            assert not leaks(said, VALUES), f"{topic} {name}: {leaks(said, VALUES)}"
        to_gp = isinstance(message, AlertRequestedV1) and (
            message.recipient.kind is OrgKind.GP_PRACTICE
        )
        assert message.child.model_dump() == {
            "given_name": GIVEN,
            "family_name": FAMILY,
            "date_of_birth": date(2012, 3, 4),
            "nhs_number": NHS_NUMBER_DIGITS if to_gp else None,
        }
        assert set(message.episode.model_dump()) == {
            "force_code",
            "episode_ref",
            "event_id",
            "event_message_id",
            "event_type",
            "occurred_at",
        }
        if isinstance(message, AlertRequestedV1):
            assert message.police_contact is not None
            assert message.police_contact.name == CONTACT_NAME


def property_names(node: object) -> set[str]:
    """Every property name in a JSON Schema, at any depth (``$defs`` included)."""
    if isinstance(node, dict):
        found = set(node.get("properties", {}))
        for value in node.values():
            found |= property_names(value)
        return found
    if isinstance(node, list):
        return set().union(*map(property_names, node)) if node else set()
    return set()


def test_the_alert_contract_has_no_field_for_the_event_details() -> None:
    """The schema itself leaves no room: unknown fields are refused, and no field of
    the request (at any depth) is named for a detail that must stay out of email."""
    forbidden = {
        "risk",
        "factors",
        "grade",
        "location",
        "description",
        "found_with",
        "address",
        "postcode",
        "nhs_number",
        "upn",
        "missing_from",
        "sex",
        "source",
    }
    for model in (AlertRequestedV1, RhiTaskRequestedV1):
        schema = model.model_json_schema()
        # The one exception: the child's NHS number, which the router fills for a GP
        # practice only (test_alert_and_task_requests_carry_only_the_child_summary).
        child = schema["$defs"].pop("ChildSummaryV1")
        assert set(child["properties"]) & forbidden == {"nhs_number"}
        names = property_names(schema)
        assert not names & forbidden, (model.__name__, names & forbidden)
        assert model.model_config.get("extra") == "forbid"


def test_the_check_can_fail() -> None:
    """A template that showed the factors or the place would be caught."""
    assert leaks("Risk factors: cse, county-lines") == [
        "risk factor cse",
        "risk factor county-lines",
    ]
    assert leaks("Found behind the Quokka Arcade, DH1 7QX") == [
        "location postcode",
        "location description",
    ]
    assert leaks("with Wilhelmina Drabblecote") == ["associate"]
    assert leaks("NHS number 738 261 9451") == ["NHS number"]
