"""The one definition of "the same child" (services/router/identity.py; pure)."""

from __future__ import annotations

from datetime import date
from typing import Any

from schemas.child_identity import LinkBasis
from schemas.episode import ChildV1
from services.router.identity import Evidence, PersonRecord, link_child, same_date_of_birth
from services.router.names import normalise_name

NHS = "9434765919"


def child(**changes: Any) -> ChildV1:
    values: dict[str, Any] = {
        "given_name": "Grace",
        "family_name": "Hall",
        "date_of_birth": date(2012, 3, 4),
        "postcode": "NE61 1AA",
        **changes,
    }
    return ChildV1.model_validate(values)


def record(child_id: str, ref: str = "E1", force_code: str = "10", **changes: Any) -> PersonRecord:
    c = child(**changes)
    return PersonRecord(
        force_code=force_code,
        episode_ref=ref,
        child_id=child_id,
        given_name=c.given_name,
        family_name=c.family_name,
        date_of_birth=c.date_of_birth,
        norm_given=normalise_name(c.given_name),
        norm_family=normalise_name(c.family_name),
        postcode=c.postcode,
        nhs_number=c.nhs_number,
        police_person_id=c.police_person_id,
    )


def test_nothing_known_is_a_new_child() -> None:
    assert link_child(child(), "10", Evidence()).child_id is None


def test_a_nickname_of_the_same_child_links_by_the_comparison() -> None:
    decision = link_child(child(given_name="Gracie"), "10", Evidence(similar=[record("A")]))
    assert (decision.child_id, decision.basis) == ("A", LinkBasis.MATCHED)


def test_twins_are_never_linked_and_asked_about_at_most() -> None:
    twin = record("A", given_name="Isla")
    decision = link_child(child(), "10", Evidence(similar=[twin]))
    assert decision.child_id is None
    assert all(c.child_id == "A" for c in decision.review)


def test_a_twins_record_with_the_same_identifier_is_doubtful() -> None:
    # A twin's NHS number on the record (borrowed, mistyped): a person decides.
    twin = record("A", given_name="Isla", nhs_number=NHS)
    decision = link_child(child(nhs_number=NHS), "10", Evidence(by_nhs_number=[twin]))
    assert decision.child_id is None
    assert [(c.child_id, c.explanation["rule"]) for c in decision.review] == [
        ("A", "identifier-conflict")
    ]


def test_the_police_person_id_is_the_strongest_and_a_weaker_rival_is_asked_about() -> None:
    by_pid = record("A", police_person_id="N1", family_name="Hall-Smith")
    by_nhs = record("B", ref="E2", nhs_number=NHS)
    decision = link_child(
        child(police_person_id="N1", nhs_number=NHS),
        "10",
        Evidence(by_police_id=[by_pid], by_nhs_number=[by_nhs]),
    )
    assert (decision.child_id, decision.basis) == ("A", LinkBasis.POLICE_PERSON_ID)
    assert [c.child_id for c in decision.review] == ["B"]


def test_another_police_person_id_of_the_same_force_is_never_linked_alone() -> None:
    earlier = record("A", police_person_id="N1")
    decision = link_child(child(police_person_id="N2"), "10", Evidence(similar=[earlier]))
    assert decision.child_id is None
    assert [c.explanation["rule"] for c in decision.review] == ["police-person-id"]
    # Another force's ids say nothing about each other.
    other_force = link_child(child(police_person_id="N2"), "11", Evidence(similar=[earlier]))
    assert other_force.child_id == "A"


def test_one_identifier_behind_two_children_is_for_a_person() -> None:
    decision = link_child(
        child(nhs_number=NHS),
        "10",
        Evidence(by_nhs_number=[record("A", nhs_number=NHS), record("B", "E2", nhs_number=NHS)]),
    )
    assert decision.child_id is None
    assert {c.child_id for c in decision.review} == {"A", "B"}


def test_dates_of_birth_compared_for_a_merge() -> None:
    assert same_date_of_birth([date(2012, 3, 4), None], [date(2012, 3, 4)])
    assert not same_date_of_birth([date(2012, 3, 4)], [date(2012, 4, 3)])
