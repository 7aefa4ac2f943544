"""Deadlines, escalation chains and the notifier's policy tables, pure."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from schemas.messages import AlertKind, OrgKind
from services.notifier.deadlines import ack_deadline, next_school_day_start
from services.notifier.escalation import AUTHORITY, CONTACT, Contact, next_escalation
from services.notifier.policy import Calendar, DeliveryPolicy, PolicyError

DEFAULT = DeliveryPolicy()


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
    at = utc(2026, 11, 23, 14, 0)
    gp = DeliveryPolicy(ack_hours={"gp-practice": 8.0})
    assert ack_deadline(AlertKind.FOUND, OrgKind.GP_PRACTICE, at, gp) == at + timedelta(hours=8)
    assert ack_deadline(AlertKind.FOUND, OrgKind.YOT, at, gp) == at + timedelta(hours=4)
    assert ack_deadline(AlertKind.CLOSED, OrgKind.LOCAL_AUTHORITY, at, gp) is None
    assert ack_deadline(AlertKind.ESCALATION, OrgKind.SCHOOL, at, gp) == at + timedelta(hours=4)
    for kind in (AlertKind.AUTHORITY_ESCALATION, AlertKind.RHI_REMINDER, AlertKind.RHI_ESCALATION):
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
