"""Property tests of the ingest decision (DESIGN §4): whatever a police system sends,
the answer is an acceptance, a refusal for another force, or field errors that name the
field; never an exception. And names arrive as they are kept: in NFC, on one line."""

from __future__ import annotations

import copy
import json
import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from schemas.episode import (
    ChildV1,
    EpisodeEventSubmissionV1,
    EpisodeEventV1,
    PersonV1,
    PoliceContactV1,
    clean_text,
)
from services.ingest.acceptance import Forbidden, Invalid, Valid, accepted_event, decide, parse_json
from services.ingest.intake import items_from_json_text
from services.router.names import normalise_name
from services.runtime.database import utcnow

KEY_FORCE = "10"
FAST = settings(
    max_examples=200,
    deadline=None,
    database=None,  # no .hypothesis folder in the working tree
    suppress_health_check=[HealthCheck.too_slow],
)

VALID: dict[str, Any] = {
    "event_id": "NB-0001",
    "type": "reported",
    "occurred_at": "2026-03-01T21:40:00+00:00",
    "force_code": "10",
    "episode_ref": "MISS/2026/0042",
    "child": {
        "given_name": "Amy",
        "family_name": "Smith",
        "date_of_birth": "2012-05-04",
        "sex": "female",
        "postcode": "NE61 1AA",
        "address": "1 Front Street\nMorpeth",
        "nhs_number": "9434765919",
        "upn": "B801200005001",
        "looked_after": True,
        "responsible_la": "E06000057",
    },
    "risk": {"grade": "high", "factors": ["cse"]},
    "missing_from": "care",
    "location": {"postcode": "NE61 1AA", "description": "bus station"},
    "found_with": [{"given_name": "Ben", "family_name": "Jones", "date_of_birth": "2011-01-02"}],
    "police_contact": {"name": "PC Hart", "phone": "0191 555 0100", "email": "hart@police.example"},
}

# Strings an attacker or a broken system sends: header and template injection, markup,
# control and format characters, decomposed accents, odd numbers written as text.
NASTY = st.sampled_from(
    [
        "",
        " ",
        "\r\nBcc: x@evil.example",
        "a@b.example\r\nBcc: x@evil.example",
        "Amy\nSubject: hi",
        "{{ 7*7 }}",
        "{% for x in range(10) %}x{% endfor %}",
        "<script>alert(1)</script>",
        "\x00",
        "A\x00B",
        "\x1b[31m",
        "\u202eevil",
        "\u2028",
        "\ufeff",
        "Jose\u0301",
        "\ud800",
        "9" * 5000,
        "NaN",
        "-1",
        "1e999",
        "2026-02-30",
        "0000-00-00T00:00:00Z",
        "2026-03-01T21:40:00",
        "99",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities too: json.loads accepts them
    | st.text()
    | NASTY
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=25,
)
# Objects with the contract's own keys get past the first errors into the rules.
KEYS = st.sampled_from([*VALID, *VALID["child"], "grade", "factors", "name", "email", "x"])
NEAR = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=8),
    max_leaves=30,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``value`` (dict keys and list indexes), parents before children."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in path)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """The valid event with one thing changed; and the dotted path of that thing."""
    event = copy.deepcopy(VALID)
    path = draw(st.sampled_from(paths(event)))
    *parent_path, last = path
    parent: Any = event
    for part in parent_path:
        parent = parent[part]
    action = draw(st.sampled_from(["replace", "nasty", "text", "delete", "add"]))
    if action == "delete":
        del parent[last]
    elif action == "add" and isinstance(parent, dict):
        extra = draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in parent))
        parent[extra] = draw(JSON)
        path = (*parent_path, extra)
    elif action == "nasty":
        parent[last] = draw(NASTY)
    elif action == "text":
        parent[last] = draw(st.text(max_size=60))
    else:
        parent[last] = draw(JSON)
    return event, dotted(path)


def assert_named(errors: Any) -> None:
    """``[{"field": ..., "message": ...}]``, every field named, ready to send as JSON."""
    assert isinstance(errors, list) and errors
    for error in errors:
        assert set(error) == {"field", "message"}
        assert isinstance(error["field"], str) and error["field"]  # may be an unknown key
        assert isinstance(error["message"], str) and error["message"].strip()
    json.dumps(errors, ensure_ascii=False, allow_nan=False).encode("utf-8")


def assert_storable(submission: EpisodeEventSubmissionV1) -> None:
    """What the ingest log and the topic get: JSON that round-trips to the same event
    (consumers validate it again), text PostgreSQL can hold (no NUL, no lone surrogate)."""
    event = accepted_event(submission, "test bridge", utcnow())
    text = event.model_dump_json()
    text.encode("utf-8")
    assert EpisodeEventV1.model_validate_json(text) == event
    for value in (event.event_id, event.episode_ref, text):
        assert "\x00" not in value


def check(data: Any) -> Valid | Invalid | Forbidden:
    decision = decide(data, KEY_FORCE)
    if isinstance(decision, Invalid):
        assert_named(decision.errors)
    elif isinstance(decision, Valid):
        assert_storable(decision.submission)
    else:
        assert isinstance(decision, Forbidden) and decision.force_code != KEY_FORCE
    return decision


def test_the_valid_event_is_valid() -> None:
    assert isinstance(check(copy.deepcopy(VALID)), Valid)


@FAST
@given(JSON)
def test_any_json_value_is_decided_without_an_exception(data: Any) -> None:
    check(data)


@FAST
@given(NEAR)
def test_objects_shaped_like_events_are_decided_without_an_exception(data: Any) -> None:
    check(data)


# A change to one field can fail only that field, a part of it, what holds it, or the
# rule that joins it to another field.
RULES = {"type": {"risk.grade"}, "occurred_at": {"child.date_of_birth"}}


def related(field: str, changed: str) -> bool:
    def within(inner: str, outer: str) -> bool:
        return inner == outer or inner.startswith(outer + ".")

    return within(field, changed) or within(changed, field) or field in RULES.get(changed, ())


@FAST
@given(mutated())
def test_a_changed_event_is_accepted_or_its_errors_name_the_changed_field(
    case: tuple[dict[str, Any], str],
) -> None:
    event, changed = case
    decision = check(event)
    if isinstance(decision, Invalid):
        fields = [e["field"] for e in decision.errors]
        assert all(related(field, changed) for field in fields), (changed, fields)
    elif isinstance(decision, Forbidden):
        assert changed == "force_code"


@FAST
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode(errors="replace")))
def test_any_text_is_json_or_an_error_on_the_body(raw: str) -> None:
    item = items_from_json_text(raw)
    _, errors = parse_json(raw)
    if item.parse_errors:
        assert [e["field"] for e in item.parse_errors] == ["(body)"] == [e["field"] for e in errors]
        return
    check(item.data)


def test_deeply_nested_json_is_an_error_on_the_body() -> None:
    raw = "[" * 100_000  # 100 kB; a 64 KiB limit still lets ~65,000 levels through
    assert items_from_json_text(raw).parse_errors[0]["field"] == "(body)"
    assert parse_json(raw)[1][0]["field"] == "(body)"


# Names ----------------------------------------------------------------------------------

NAME_TEXT = st.text(
    st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Z"])
    | st.sampled_from(" -'"),
    min_size=1,
    max_size=40,
)


@FAST
@given(NAME_TEXT)
def test_a_name_is_kept_in_nfc_whatever_form_it_arrives_in(name: str) -> None:
    forms = {unicodedata.normalize(form, name) for form in ("NFC", "NFD")}
    kept = set()
    for form in forms:
        try:
            person = PersonV1(given_name=form, family_name="Smith")
        except ValueError:
            assume(False)  # blank once stripped
        kept.add(person.given_name)
    assert len(kept) == 1
    [value] = kept
    assert unicodedata.is_normalized("NFC", value)
    assert value == " ".join(value.split())
    assert clean_text(value) == value  # consumers validating it again change nothing


def test_decomposed_and_composed_accents_are_one_name() -> None:
    nfd = ChildV1(given_name="Jose\u0301", family_name="Mu\u0308ller", date_of_birth="2012-05-04")
    nfc = ChildV1(given_name="José", family_name="Müller", date_of_birth="2012-05-04")
    assert nfd == nfc
    assert nfd.given_name == "Jos\u00e9" and len(nfd.given_name) == 4
    assert normalise_name(nfd.given_name) == normalise_name("Jose\u0301") == "jose"
    contact = PoliceContactV1(name="PC Jose\u0301 Hart")
    assert contact.name == "PC José Hart"


def test_a_name_of_100_characters_in_nfc_is_not_too_long_in_nfd() -> None:
    name = "e" * 90 + "\u00e9" * 10
    assert len(unicodedata.normalize("NFD", name)) == 110
    assert (
        PersonV1(given_name=unicodedata.normalize("NFD", name), family_name="S").given_name == name
    )


@pytest.mark.parametrize(
    ("given_name", "kept"),
    [
        ("Amy\r\nBcc: x@evil.example", "Amy Bcc: x@evil.example"),
        ("Amy\tLouise", "Amy Louise"),
        ("Amy\u2028Louise", "Amy Louise"),
        ("Amy\u00a0 Louise", "Amy Louise"),
        ("  Amy  ", "Amy"),
    ],
)
def test_line_breaks_and_tabs_in_names_become_one_space(given_name: str, kept: str) -> None:
    assert PersonV1(given_name=given_name, family_name="Smith").given_name == kept


FORBIDDEN = [
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\x9b",
    "\u202a",
    "\u202e",
    "\u2066",
    "\u2069",
]


@pytest.mark.parametrize("char", FORBIDDEN, ids=[f"U+{ord(c):04X}" for c in FORBIDDEN])
@pytest.mark.parametrize(
    "field",
    [
        "child.given_name",
        "child.family_name",
        "found_with.0.given_name",
        "found_with.0.family_name",
        "police_contact.name",
        "police_contact.phone",
        "child.sex",
        "child.address",
        "location.description",
        "event_id",
        "episode_ref",
        "police_contact.email",
    ],
)
def test_control_and_bidi_characters_are_refused_naming_the_field(char: str, field: str) -> None:
    event = copy.deepcopy(VALID)
    *parent_path, last = [int(p) if p.isdigit() else p for p in field.split(".")]
    parent: Any = event
    for part in parent_path:
        parent = parent[part]
    parent[last] = f"{parent[last][:3]}{char}{parent[last][3:]}"
    decision = check(event)
    assert isinstance(decision, Invalid)
    assert [e["field"] for e in decision.errors] == [field]
    assert char not in json.dumps(decision.errors, ensure_ascii=False)  # input not echoed


@pytest.mark.parametrize(
    "email",
    [
        "hart@police.example\r\nBcc: x@evil.example",
        "hart@police.example\nBcc: x@evil.example",
        "hart@police.example\rBcc: x@evil.example",
        "hart@police.example, x@evil.example",
        "hart@police.example;x@evil.example",
        "PC Hart <hart@police.example>",
        '"x@evil.example" <hart@police.example>',
        "hart@police.example\x00",
        "hart@police.example\u2028Bcc: x@evil.example",
        "hart\u202e@police.example",
    ],
)
def test_a_police_contact_email_that_could_add_a_header_is_refused(email: str) -> None:
    event = copy.deepcopy(VALID)
    event["police_contact"]["email"] = email
    decision = check(event)
    assert isinstance(decision, Invalid)
    assert [e["field"] for e in decision.errors] == ["police_contact.email"]


def test_surrounding_whitespace_of_an_email_is_dropped() -> None:
    assert PoliceContactV1(email=" hart@police.example\r\n").email == "hart@police.example"


def test_multi_line_text_keeps_its_lines_and_ids_stay_as_sent() -> None:
    event = copy.deepcopy(VALID)
    event["child"]["address"] = "1 Front Street\r\nMorpeth\tNE61"
    event["event_id"] = "NB-Jose\u0301"  # an id is not a name: not normalised
    decision = check(event)
    assert isinstance(decision, Valid)
    assert decision.submission.child.address == "1 Front Street\r\nMorpeth\tNE61"
    assert decision.submission.event_id == "NB-Jose\u0301"


def test_the_json_schema_publishes_what_is_refused() -> None:
    import re

    schema = EpisodeEventSubmissionV1.model_json_schema()
    child = schema["$defs"]["ChildV1"]["properties"]
    pattern = re.compile(child["given_name"]["pattern"])
    assert pattern.fullmatch("Amy Louise-O'Neill José")
    assert pattern.fullmatch("Amy\r\nLouise")  # arrives; kept as one line
    for char in FORBIDDEN:
        assert not pattern.fullmatch(f"Amy{char}")
    email = schema["$defs"]["PoliceContactV1"]["properties"]["email"]["anyOf"][0]["pattern"]
    assert re.fullmatch(email, "hart@police.example")
    assert not re.fullmatch(email, "hart@police.example\r\nBcc: x@evil.example")
