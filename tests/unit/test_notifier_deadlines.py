"""Deadlines, escalation chains and the notifier's policy tables, pure; and what the
email says of them (issue 17: urgency, working hours, wording that fits the clock)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from schemas.episode import EpisodeEventV1
from schemas.messages import AlertKind, OrgKind
from services.notifier.deadlines import (
    ack_deadline,
    at_work,
    next_school_day_start,
    school_day_open,
)
from services.notifier.escalation import AUTHORITY, CONTACT, Contact, next_escalation
from services.notifier.out_of_hours import notice_due
from services.notifier.policy import Calendar, DeliveryPolicy, PolicyError
from services.notifier.rendering import AlertContent, RenderedEmail, Renderer
from services.router.directory import Organisation
from services.router.matching import MatchDecision
from services.router.policy import History, Policy, RoutingPlan, route

DEFAULT = DeliveryPolicy()
LA_CODE = "E06000057"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "due"),
    [
        # Monday afternoon -> Tuesday 08:30 (GMT in November).
        (utc(2026, 11, 23, 14, 0), utc(2026, 11, 24, 8, 30)),
        # Before the start of a school day: that same morning.
        (utc(2026, 11, 24, 6, 0), utc(2026, 11, 24, 8, 30)),
        # Friday evening -> Monday.
        (utc(2026, 11, 27, 18, 0), utc(2026, 11, 30, 8, 30)),
        # Christmas Eve -> past Christmas, Boxing Day (observed Mon 28) -> Tue 29.
        (utc(2026, 12, 24, 16, 0), utc(2026, 12, 29, 8, 30)),
        # Summer: 08:30 BST is 07:30 UTC; the late summer bank holiday is skipped.
        (utc(2026, 8, 28, 12, 0), utc(2026, 9, 1, 7, 30)),
    ],
)
def test_a_school_alert_is_due_at_the_start_of_the_next_school_day(
    at: datetime, due: datetime
) -> None:
    assert ack_deadline(AlertKind.REPORTED, OrgKind.SCHOOL, at, DEFAULT) == due


def test_wales_has_its_own_bank_holidays_and_terms_and_closures_count() -> None:
    # 2 January is a bank holiday in Scotland only; 27 December 2027 differs by nothing:
    # the check is that the nation is honoured at all (St David's Day is not a holiday).
    wales = DeliveryPolicy(calendar=Calendar(nation="wales"))
    assert wales.calendar.is_school_day(date(2027, 3, 1))
    term = DeliveryPolicy(
        calendar=Calendar(
            terms=((date(2026, 11, 2), date(2026, 12, 18)), (date(2027, 1, 5), date(2027, 2, 12))),
            closures=frozenset({date(2026, 11, 27)}),
        ),
        school_day_start=time(8, 45),
    )
    assert next_school_day_start(utc(2026, 11, 26, 12, 0), term) == utc(2026, 11, 30, 8, 45)
    assert next_school_day_start(utc(2026, 12, 18, 12, 0), term) == utc(2027, 1, 5, 8, 45)
    past = DeliveryPolicy(calendar=Calendar(terms=((date(2020, 1, 6), date(2020, 3, 27)),)))
    at = utc(2026, 11, 23, 14, 0)
    # No school day within a year: the calendar is wrong; fall back to the default hours.
    assert ack_deadline(AlertKind.REPORTED, OrgKind.SCHOOL, at, past) == at + timedelta(hours=4)


def test_other_kinds_have_hours_and_the_end_of_a_chain_has_no_deadline() -> None:
    at = utc(2026, 11, 23, 14, 0)  # a Monday
    gp = DeliveryPolicy(ack_hours={"gp-practice": 8.0})
    # 8 hours of the practice's working time: 4.5 on Monday (to 18:30), 3.5 on Tuesday.
    assert ack_deadline(AlertKind.REPORTED, OrgKind.GP_PRACTICE, at, gp) == utc(
        2026, 11, 24, 11, 30
    )
    # 4 hours of the YOT's: 3 on Monday (to 17:00), 1 on Tuesday from 09:00.
    assert ack_deadline(AlertKind.REPORTED, OrgKind.YOT, at, gp) == utc(2026, 11, 24, 10, 0)
    # A kind without working hours counts every hour.
    assert ack_deadline(AlertKind.REPORTED, OrgKind.MSET_PANEL, at, gp) == at + timedelta(hours=4)
    # The child is no longer missing: nothing is chased.
    for ending in (AlertKind.FOUND, AlertKind.RETURNED, AlertKind.CLOSED):
        assert ack_deadline(ending, OrgKind.LOCAL_AUTHORITY, at, gp) is None
        assert ack_deadline(ending, OrgKind.SCHOOL, at, gp) is None
    assert ack_deadline(AlertKind.ESCALATION, OrgKind.SCHOOL, at, gp) == at + timedelta(hours=4)
    for kind in (
        AlertKind.AUTHORITY_ESCALATION,
        AlertKind.RHI_REMINDER,
        AlertKind.RHI_ESCALATION,
        AlertKind.OUT_OF_HOURS,
    ):
        assert ack_deadline(kind, OrgKind.LOCAL_AUTHORITY, at, gp) is None


SCHOOL = Contact("100001", "Hillside", "dsl@hillside.example")
COUNCIL = Contact("E06000057", "Council", "missing@council.example")


def test_the_chain_is_escalation_contact_then_authority_skipping_what_repeats() -> None:
    first = next_escalation(0, SCHOOL, "head@hillside.example", COUNCIL)
    assert first is not None and first.level == CONTACT
    assert first.kind is AlertKind.ESCALATION and first.to.email == "head@hillside.example"
    second = next_escalation(CONTACT, SCHOOL, "head@hillside.example", COUNCIL)
    assert second is not None and second.level == AUTHORITY and second.to == COUNCIL
    assert next_escalation(AUTHORITY, SCHOOL, "head@hillside.example", COUNCIL) is None
    # No escalation contact (or the same address): straight to the authority.
    for contact in (None, "DSL@hillside.example "):
        step = next_escalation(0, SCHOOL, contact, COUNCIL)
        assert step is not None and step.level == AUTHORITY
    # The authority's own alert escalates to its duty address and stops there.
    own = next_escalation(0, COUNCIL, "duty@council.example", COUNCIL)
    assert own is not None and own.level == CONTACT
    assert next_escalation(CONTACT, COUNCIL, "duty@council.example", COUNCIL) is None
    assert next_escalation(0, SCHOOL, None, None) is None
    assert first.alert_id("a") != second.alert_id("a") == second.alert_id("a")


def test_policy_tables_are_read_and_errors_name_table_and_key() -> None:
    policy = DeliveryPolicy.from_sections(
        {
            "deadlines": {"school_day_start": "08:45", "yot": 2, "escalation_hours": 1.5},
            "calendar": {
                "nation": "wales",
                "terms": [{"start": "2026-09-02", "end": "2026-10-23"}],
                "closures": ["2026-10-09"],
            },
            "delivery": {"retry_window_hours": 6, "first_retry_seconds": 10},
        },
        "p.toml",
    )
    assert policy.school_day_start == time(8, 45) and policy.ack_hours == {"yot": 2.0}
    assert policy.escalation_hours == 1.5 and policy.calendar.nation == "wales"
    assert policy.calendar.terms == ((date(2026, 9, 2), date(2026, 10, 23)),)
    assert policy.retry.window == timedelta(hours=6)
    assert policy.retry.first_delay == timedelta(seconds=10)
    bad = [
        ({"deadlines": {"school_day_start": "8.30"}}, "[deadlines] school_day_start"),
        ({"deadlines": {"schools": 3}}, "[deadlines] schools: unknown key"),
        ({"deadlines": {"gp-practice": -1}}, "[deadlines] gp-practice: a number of hours"),
        ({"deadlines": {"rhi_reminder_hours": 80}}, "must be under 72"),
        ({"calendar": {"nation": "scotland"}}, "[calendar] nation: 'scotland'"),
        ({"calendar": {"terms": [{"start": "2026-09-02"}]}}, "[calendar] terms[1]"),
        (
            {"calendar": {"terms": [{"start": "2026-10-02", "end": "2026-09-01"}]}},
            "ends (2026-09-01) before it starts",
        ),
        ({"calendar": {"closures": ["27/11/2026"]}}, "[calendar] closures[1]: '27/11/2026'"),
        ({"delivery": {"retry_window_hours": 1}}, "at least 4"),
        ({"delivery": {"retry": 1}}, "[delivery] retry: unknown key"),
        ({"deadlines": 3}, "[deadlines] must be a table"),
    ]
    for sections, message in bad:
        with pytest.raises(PolicyError) as caught:
            DeliveryPolicy.from_sections(sections, "p.toml")
        assert message in str(caught.value) and str(caught.value).startswith("p.toml: ")


# --- issue 17: urgency, working hours, wording that fits the clock ---------------------


@pytest.mark.parametrize(
    ("at", "due"),
    [
        # Inside the school day with two hours to spare: two hours of school-day time.
        (utc(2026, 11, 23, 10, 0), utc(2026, 11, 23, 12, 0)),
        (utc(2026, 11, 23, 13, 30), utc(2026, 11, 23, 15, 30)),  # to the minute it ends
        # Across the school day's end (15:30): the hours would run into Tuesday (09:30);
        # no urgent alert gives longer than an ordinary one, so Tuesday 08:30.
        (utc(2026, 11, 23, 14, 30), utc(2026, 11, 24, 8, 30)),
        # Across a weekend: Friday 14:30 -> Monday 08:30, not Monday 09:30.
        (utc(2026, 11, 27, 14, 30), utc(2026, 11, 30, 8, 30)),
        # Saturday night, and before school on a school day: that school day's start.
        (utc(2026, 11, 28, 22, 0), utc(2026, 11, 30, 8, 30)),
        (utc(2026, 11, 23, 7, 0), utc(2026, 11, 23, 8, 30)),
        # Summer time: 10:00 BST is 09:00 UTC; two hours on is 11:00 UTC.
        (utc(2026, 7, 7, 9, 0), utc(2026, 7, 7, 11, 0)),
    ],
)
def test_an_urgent_school_alert_is_due_within_two_school_day_hours_or_next_morning(
    at: datetime, due: datetime
) -> None:
    assert ack_deadline(AlertKind.REPORTED, OrgKind.SCHOOL, at, DEFAULT, urgent=True) == due
    # Never later than the same alert not urgent.
    ordinary = ack_deadline(AlertKind.REPORTED, OrgKind.SCHOOL, at, DEFAULT)
    assert ordinary is not None and due <= ordinary


def test_high_risk_hours_and_the_school_day_come_from_the_policy() -> None:
    policy = DeliveryPolicy.from_sections(
        {"deadlines": {"high_risk_hours": 1, "school_day_end": "16:00"}}
    )
    monday = utc(2026, 11, 23, 14, 30)
    assert ack_deadline(AlertKind.REPORTED, OrgKind.SCHOOL, monday, policy, urgent=True) == utc(
        2026, 11, 23, 15, 30
    )
    # 15:30 is now inside the school day, with 30 minutes left: next morning.
    late = utc(2026, 11, 23, 15, 30)
    assert ack_deadline(AlertKind.REPORTED, OrgKind.SCHOOL, late, policy, urgent=True) == utc(
        2026, 11, 24, 8, 30
    )


@pytest.mark.parametrize(
    ("kind", "at", "due"),
    [
        # GP practice, Mon-Fri 08:00-18:30: an afternoon alert is due the same evening.
        (OrgKind.GP_PRACTICE, utc(2026, 11, 23, 14, 0), utc(2026, 11, 23, 18, 0)),
        # In the evening: 2.5 hours on Monday, 1.5 from 08:00 on Tuesday.
        (OrgKind.GP_PRACTICE, utc(2026, 11, 23, 16, 0), utc(2026, 11, 24, 9, 30)),
        # Friday 17:00: 1.5 hours on Friday, the weekend skipped, 2.5 on Monday.
        (OrgKind.GP_PRACTICE, utc(2026, 11, 27, 17, 0), utc(2026, 11, 30, 10, 30)),
        # Late summer bank holiday (Monday 31 August), in BST: Friday 18:00 BST (17:00
        # UTC) has 30 minutes; Monday is no working day; Tuesday from 08:00 BST.
        (OrgKind.GP_PRACTICE, utc(2026, 8, 28, 17, 0), utc(2026, 9, 1, 10, 30)),
        # YOT, Mon-Fri 09:00-17:00: Monday 20:00 -> Tuesday 13:00.
        (OrgKind.YOT, utc(2026, 11, 23, 20, 0), utc(2026, 11, 24, 13, 0)),
        # Saturday night: Monday 09:00 + 4 hours.
        (OrgKind.YOT, utc(2026, 11, 28, 22, 0), utc(2026, 11, 30, 13, 0)),
        # Local authority, Christmas Eve 16:00: an hour that day; Christmas Day, the
        # weekend and Boxing Day observed (Monday 28) skipped; 3 hours on Tuesday 29.
        (OrgKind.LOCAL_AUTHORITY, utc(2026, 12, 24, 16, 0), utc(2026, 12, 29, 12, 0)),
        # ... and Saturday 22:00: Monday 09:00 + 4 hours.
        (OrgKind.LOCAL_AUTHORITY, utc(2026, 12, 5, 22, 0), utc(2026, 12, 7, 13, 0)),
    ],
)
def test_deadlines_count_working_hours_only(kind: OrgKind, at: datetime, due: datetime) -> None:
    assert ack_deadline(AlertKind.REPORTED, kind, at, DEFAULT) == due
    # Urgency shortens only a school's deadline.
    assert ack_deadline(AlertKind.REPORTED, kind, at, DEFAULT, urgent=True) == due


def test_an_escalation_contact_has_working_hours_too_and_always_means_every_hour() -> None:
    friday = utc(2026, 11, 27, 16, 0)
    # The practice manager: 2.5 hours on Friday, 1.5 on Monday from 08:00.
    assert ack_deadline(AlertKind.ESCALATION, OrgKind.GP_PRACTICE, friday, DEFAULT) == utc(
        2026, 11, 30, 9, 30
    )
    always = DeliveryPolicy.from_sections({"hours": {"local-authority": "always"}})
    assert ack_deadline(AlertKind.REPORTED, OrgKind.LOCAL_AUTHORITY, friday, always) == (
        friday + timedelta(hours=4)
    )
    assert at_work(utc(2026, 12, 25, 3, 0), OrgKind.LOCAL_AUTHORITY, always)


def test_at_work_follows_hours_bank_holidays_and_summer_time() -> None:
    la = OrgKind.LOCAL_AUTHORITY
    assert at_work(utc(2026, 12, 8, 11, 0), la, DEFAULT)  # Tuesday 11:00
    assert not at_work(utc(2026, 12, 5, 22, 0), la, DEFAULT)  # Saturday 22:00
    assert not at_work(utc(2026, 12, 8, 17, 0), la, DEFAULT)  # 17:00: the office has closed
    assert at_work(utc(2026, 12, 8, 9, 0), la, DEFAULT)  # 09:00: it has opened
    assert not at_work(utc(2026, 12, 28, 11, 0), la, DEFAULT)  # Boxing Day observed
    assert not at_work(utc(2026, 7, 7, 16, 30), la, DEFAULT)  # 17:30 BST
    assert at_work(utc(2026, 7, 7, 8, 0), la, DEFAULT)  # 09:00 BST
    assert at_work(utc(2026, 12, 5, 22, 0), OrgKind.MSET_PANEL, DEFAULT)  # no hours: always


@pytest.mark.parametrize(
    ("at", "today"),
    [
        (utc(2026, 11, 23, 7, 0), True),  # before school on a school day: today's register
        (utc(2026, 11, 23, 15, 29), True),
        (utc(2026, 11, 23, 15, 30), False),  # the school day has ended
        (utc(2026, 11, 28, 10, 0), False),  # Saturday
        (utc(2026, 12, 28, 10, 0), False),  # a bank holiday
        (utc(2026, 7, 7, 14, 29), True),  # 15:29 BST
        (utc(2026, 7, 7, 14, 30), False),  # 15:30 BST
    ],
)
def test_today_s_register_only_until_the_school_day_ends(at: datetime, today: bool) -> None:
    assert school_day_open(at, DEFAULT) is today
    text = body_text(wording_renderer().render(alert_content(), at))
    subject = wording_renderer().render(alert_content(), at).subject
    if today:
        assert "please check today's attendance register" in text
        assert subject.endswith("please check your register today")
        assert "next school day" not in text
    else:
        assert "check the attendance register for this child at the start of the next" in text
        assert subject.endswith("please check your register at the start of the next school day")
        assert "today" not in text


def test_school_day_end_moves_the_wording_with_the_policy() -> None:
    late = DeliveryPolicy.from_sections({"deadlines": {"school_day_end": "16:00"}})
    at = utc(2026, 11, 23, 15, 45)
    assert school_day_open(at, late) and not school_day_open(at, DEFAULT)
    text = body_text(wording_renderer(late).render(alert_content(), at))
    assert "today's attendance register" in text


def test_the_deadline_and_what_follows_it_are_in_the_email() -> None:
    renderer = wording_renderer()
    at = utc(2026, 12, 4, 20, 0)  # Friday evening
    school = alert_content(ack_due_at=utc(2026, 12, 7, 8, 30))
    text = body_text(renderer.render(school, at))
    assert (
        "If we have not heard from you by 08:30 on Monday 7 December, we will contact your "
        "head teacher." in text
    )
    assert "we will contact your head teacher" in flat(renderer.render(school, at).html)
    # No escalation contact: the child's local authority, by name.
    alone = replace(school, recipient_escalation_email=None)
    assert (
        "by 08:30 on Monday 7 December, we will contact Northumberland Council, the child's "
        "local authority." in body_text(renderer.render(alone, at))
    )
    # The contact already told (a resend after the escalation): the authority is next.
    later = replace(school, escalation_level=1, ack_due_at=utc(2026, 12, 7, 12, 30))
    assert "by 12:30 on Monday 7 December, we will contact Northumberland Council" in (
        body_text(renderer.render(later, at))
    )
    # In summer, local time (BST): 07:30 UTC is 08:30.
    summer = replace(school, ack_due_at=utc(2026, 9, 1, 7, 30))
    assert "by 08:30 on Tuesday 1 September" in body_text(renderer.render(summer, at))
    # No deadline (an episode-closed notice): nothing said about one.
    closed = replace(school, kind="closed", ack_due_at=None)
    assert "If we have not heard" not in body_text(renderer.render(closed, at))
    # An escalation states its own deadline when its row has it.
    escalation = replace(
        school,
        kind="escalation",
        event_type="reported",
        about_recipient_name="Hillside",
        respond_by=utc(2026, 12, 7, 12, 30),
    )
    assert "If nobody confirms by 12:30 on Monday 7 December, the child's local authority" in (
        body_text(renderer.render(escalation, at))
    )


def test_an_urgent_alert_says_so_first_in_its_subject() -> None:
    renderer = wording_renderer()
    at = utc(2026, 12, 4, 10, 0)
    for kind in (OrgKind.SCHOOL, OrgKind.GP_PRACTICE, OrgKind.YOT, OrgKind.LOCAL_AUTHORITY):
        urgent = renderer.render(alert_content(recipient_kind=kind.value, urgent=True), at)
        assert urgent.subject.startswith("URGENT: Missing child: police ref 10/E123"), kind
        assert "This alert is urgent" in urgent.text
        ordinary = renderer.render(alert_content(recipient_kind=kind.value), at)
        assert not ordinary.subject.startswith("URGENT") and "urgent" not in ordinary.text


def test_the_router_marks_high_risk_and_exploitation_urgent_while_the_child_is_missing() -> None:
    assert all(a.urgent for a in routed("reported", {"grade": "high", "factors": []}).alerts)
    assert all(a.urgent for a in routed("reported", {"grade": "low", "factors": ["cce"]}).alerts)
    assert not any(a.urgent for a in routed("reported", {"grade": "medium"}).alerts)
    assert not any(a.urgent for a in routed("found", {"grade": "high", "factors": []}).alerts)


def test_the_nhs_number_goes_to_the_gp_practice_only() -> None:
    plan = routed("reported", {"grade": "medium"}, nhs_number="943 476 5919")
    numbers = {a.recipient.kind: a.child.nhs_number for a in plan.alerts}
    assert numbers == {
        OrgKind.SCHOOL: None,
        OrgKind.GP_PRACTICE: "9434765919",
        OrgKind.YOT: None,
        OrgKind.LOCAL_AUTHORITY: None,
    }
    renderer = wording_renderer()
    at = utc(2026, 12, 4, 10, 0)
    for alert in plan.alerts:
        content = AlertContent.from_request(alert)
        email = renderer.render(content, at)
        gp = alert.recipient.kind is OrgKind.GP_PRACTICE
        for part in (email.text, email.html):
            assert ("943 476 5919" in part) is gp, alert.recipient.kind
        assert ("child.nhs_number" in renderer.disclosed_fields(content)) is gp
    # Even a content that carried one shows it to nobody else.
    school = alert_content(child_nhs_number="9434765919")
    assert "943 476 5919" not in renderer.render(school, at).text
    # No NHS number from the police: none in the GP's alert, nor a line for it.
    without = routed("reported", {"grade": "medium"})
    gp_alert = next(a for a in without.alerts if a.recipient.kind is OrgKind.GP_PRACTICE)
    assert gp_alert.child.nhs_number is None
    assert "NHS number" not in renderer.render(AlertContent.from_request(gp_alert), at).text


@pytest.mark.parametrize(
    ("at", "urgent", "team", "due"),
    [
        (utc(2026, 12, 5, 22, 0), True, "edt@council.example", True),  # Saturday 22:00
        (utc(2026, 12, 8, 11, 0), True, "edt@council.example", False),  # Tuesday 11:00
        (utc(2026, 12, 28, 11, 0), True, "edt@council.example", True),  # a bank holiday
        (utc(2026, 12, 5, 22, 0), False, "edt@council.example", False),  # not urgent
        (utc(2026, 12, 5, 22, 0), True, None, False),  # no out-of-hours team
        (utc(2026, 12, 5, 22, 0), True, "MC@council.example", False),  # the same address
    ],
)
def test_the_out_of_hours_team_is_told_of_an_urgent_alert_while_the_office_is_closed(
    at: datetime, urgent: bool, team: str | None, due: bool
) -> None:
    alert = SimpleNamespace(
        kind="reported",
        recipient_kind="local-authority",
        recipient_email="mc@council.example",
        recipient_out_of_hours_email=team,
        urgent=urgent,
    )
    assert notice_due(alert, at, DEFAULT) is due
    # Only a local authority's alert; never for the notifier's own notices.
    for kind, recipient_kind in (("reported", "yot"), ("escalation", "local-authority")):
        other = SimpleNamespace(**{**vars(alert), "kind": kind, "recipient_kind": recipient_kind})
        assert not notice_due(other, at, DEFAULT)


def test_the_out_of_hours_notice_is_urgent_and_names_the_authority() -> None:
    content = alert_content(
        kind="out-of-hours",
        recipient_kind="local-authority",
        recipient_name="Northumberland Council out-of-hours team",
        event_type="reported",
        about_recipient_name="Northumberland Council",
        urgent=True,
    )
    email = wording_renderer().render(content, utc(2026, 12, 5, 22, 0))
    assert email.subject.startswith("URGENT: Out of hours: police ref 10/E123")
    assert "You are the out-of-hours team of Northumberland Council" in flat(email.text)
    assert "If we have not heard" not in email.text  # it copies; the alert has the deadline


def test_working_hours_and_the_new_deadline_keys_are_read_and_checked() -> None:
    policy = DeliveryPolicy.from_sections(
        {
            "deadlines": {"school_day_end": "15:00", "high_risk_hours": 1.5},
            "hours": {
                "yot": "Mon-Fri 08:00-18:00, Sat 09:00-12:00",
                "mset-panel": "Fri-Mon 10:00-24:00",
            },
        },
        "p.toml",
    )
    assert policy.school_day_end == time(15, 0) and policy.high_risk_hours == 1.5
    yot = policy.working_hours("yot")
    assert yot is not None
    assert [(s.isoformat(), e.isoformat()) for s, e in yot.periods_on(date(2026, 11, 28))] == [
        ("2026-11-28T09:00:00+00:00", "2026-11-28T12:00:00+00:00")
    ]
    panel = policy.working_hours("mset-panel")
    assert panel is not None and panel.periods_on(date(2026, 11, 25)) == []  # a Wednesday
    assert panel.periods_on(date(2026, 11, 30))[0][1] == utc(2026, 12, 1, 0, 0)  # to midnight
    # The defaults stay for kinds the file does not name.
    gp = policy.working_hours("gp-practice")
    assert gp is not None and gp.text == "Mon-Fri 08:00-18:30"
    assert DEFAULT.school_day_end == time(15, 30) and DEFAULT.high_risk_hours == 2.0
    bad = [
        ({"hours": {"school": "Mon-Fri 08:30-15:30"}}, "[hours] school: schools keep the school"),
        ({"hours": {"gp": "Mon-Fri 08:00-18:30"}}, "[hours] gp: unknown key"),
        ({"hours": {"yot": 9}}, "[hours] yot: a string"),
        ({"hours": {"yot": "Mon-Fri 9-5"}}, "[hours] yot: 'Mon-Fri 9-5' is not days and times"),
        (
            {"hours": {"yot": "Mon-Fry 09:00-17:00"}},
            "[hours] yot: 'Mon-Fry 09:00-17:00': 'Fry' is not a day",
        ),
        ({"hours": {"yot": "Mon-Fri 17:00-09:00"}}, "ends before it starts"),
        ({"hours": {"yot": "Mon-Fri 09:00-25:00"}}, "'25:00' is not a time of day"),
        ({"hours": {"yot": ""}}, "[hours] yot: empty"),
        ({"hours": "Mon-Fri"}, "[hours] must be a table"),
        ({"deadlines": {"school_day_end": "3pm"}}, "[deadlines] school_day_end: a time"),
        ({"deadlines": {"school_day_end": "08:00"}}, "must be later than school_day_start"),
        ({"deadlines": {"high_risk_hours": 0}}, "[deadlines] high_risk_hours: a number"),
    ]
    for sections, message in bad:
        with pytest.raises(PolicyError) as caught:
            DeliveryPolicy.from_sections(sections, "p.toml")
        assert message in str(caught.value) and str(caught.value).startswith("p.toml: ")


# --- helpers for the wording tests ------------------------------------------------------


def wording_renderer(policy: DeliveryPolicy = DEFAULT) -> Renderer:
    return Renderer("https://console.example/", "Relay <relay@relay.example>", policy=policy)


def alert_content(**changes: Any) -> AlertContent:
    base = AlertContent(
        alert_id="alert-1",
        kind="reported",
        recipient_kind="school",
        recipient_name="Hillside Primary",
        recipient_email="dsl@hillside.example",
        child_given_name="Amelia",
        child_family_name="Oakes",
        child_date_of_birth=date(2013, 4, 7),
        force_code="10",
        episode_ref="E123",
        occurred_at=utc(2026, 12, 4, 19, 0),
        recipient_code="100001",
        recipient_escalation_email="head@hillside.example",
        authority_code="E06000057",
        authority_name="Northumberland Council",
        authority_email="mc@council.example",
    )
    return replace(base, **changes)


def flat(text: str) -> str:
    return " ".join(text.split())


def body_text(email: RenderedEmail) -> str:
    return flat(email.text)


ROUTING_ORGS = {
    o.code: o
    for o in [
        Organisation("100001", OrgKind.SCHOOL, "Hillside", "dsl@h.example", la_code=LA_CODE),
        Organisation("A81001", OrgKind.GP_PRACTICE, "Surgery", "gp@nhs.example", la_code=LA_CODE),
        Organisation("YOT-NLD", OrgKind.YOT, "YOT", "yot@n.example", la_code=LA_CODE),
        Organisation(
            LA_CODE,
            OrgKind.LOCAL_AUTHORITY,
            "Northumberland Council",
            "mc@n.example",
            la_code=LA_CODE,
            out_of_hours_email="edt@n.example",
        ),
    ]
}


def routed(type_: str, risk: dict[str, Any], nhs_number: str | None = None) -> RoutingPlan:
    child: dict[str, Any] = {
        "given_name": "Amelia",
        "family_name": "Oakes",
        "date_of_birth": "2013-04-07",
    }
    if nhs_number:
        child["nhs_number"] = nhs_number
    event = EpisodeEventV1.model_validate(
        {
            "message_id": str(uuid.uuid4()),
            "event_id": "ev-1",
            "type": type_,
            "occurred_at": "2026-12-04T10:00:00+00:00",
            "force_code": "10",
            "episode_ref": "E123",
            "child": child,
            "risk": risk,
            "accepted_at": "2026-12-04T10:00:00+00:00",
            "source": "test",
        }
    )
    matches = [
        MatchDecision("match", code, f"R-{code}", 1.0, {})
        for code in ("100001", "A81001", "YOT-NLD")
    ]
    return route(event, matches, ROUTING_ORGS, History(), Policy())
