"""``alert_status`` builds the model (and so the outbox payload, byte for byte) that the
model built field by field with its enums made in Python gave, and ``alert_status_json``
writes that model's JSON without it, for every kind, state and recipient and for awkward
text and clocks; and what the model refused they still refuse."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.episode import EventType
from schemas.messages import AlertKind, AlertState, AlertStatusV1, OrgKind
from services.notifier.delivery import status_message_id
from services.notifier.model import Alert
from services.notifier.statuses import alert_status, alert_status_json
from services.runtime.messaging import outbox_row
from tests.unit.notifier_examples import SCHOOL, episode, request, sent

AT = datetime(2026, 12, 7, 17, 0, 5, 120034, tzinfo=UTC)


def _field_by_field(
    alert: Alert, state: AlertState, at: datetime, attempt: int = 0, detail: str | None = None
) -> AlertStatusV1:
    """How ``alert_status`` built the message before (at 809db7d)."""
    return AlertStatusV1(
        message_id=status_message_id(alert.alert_id, state.value, attempt),
        alert_id=alert.alert_id,
        state=state,
        kind=AlertKind(alert.kind),
        recipient_code=alert.recipient_code,
        recipient_kind=OrgKind(alert.recipient_kind),
        force_code=alert.force_code,
        episode_ref=alert.episode_ref,
        event_message_id=alert.event_message_id,
        attempt=attempt,
        detail=detail[:500] if detail else None,
        at=at,
        recipient_name=alert.recipient_name,
        event_type=EventType(alert.event_type),
    )


def _alert(**changes: object) -> Alert:
    return replace(sent(request(episode(), SCHOOL)), **changes)  # type: ignore[arg-type]


def _same(alert: Alert, state: AlertState, at: datetime, attempt: int, detail: str | None) -> None:
    built = alert_status(alert, state, at, attempt, detail)
    before = _field_by_field(alert, state, at, attempt, detail)
    assert built == before
    assert built.model_fields_set == before.model_fields_set
    assert built.model_dump_json() == before.model_dump_json()
    row = outbox_row("alert-status", alert.alert_id, built)
    assert row["payload"] == before.model_dump_json()
    assert row["message_id"] == before.message_id
    assert alert_status_json(alert, state, at, attempt, detail) == (
        before.message_id,
        before.model_dump_json(),
    )


@pytest.mark.parametrize("kind", list(AlertKind))
@pytest.mark.parametrize("recipient_kind", list(OrgKind))
def test_every_kind_and_recipient(kind: AlertKind, recipient_kind: OrgKind) -> None:
    alert = _alert(kind=kind.value, recipient_kind=recipient_kind.value)
    for state in AlertState:
        _same(alert, state, AT, 1, None)


@pytest.mark.parametrize("event_type", list(EventType))
@pytest.mark.parametrize(
    "detail", [None, "", "  padded  ", "x" * 499 + "  ", "é" * 600, 'quote " and \\ and \n']
)
def test_every_event_type_and_detail(event_type: EventType, detail: str | None) -> None:
    _same(_alert(event_type=event_type.value), AlertState.TEMPORARY_FAILURE, AT, 3, detail)


@pytest.mark.parametrize(
    "text",
    [
        "  Morpeth School  ",
        "Ysgol Gymraeg Bro Morgannwg \u2013 \u201cC\u00f4r\u201d \U0001f600",
        "tab\tand\x1fseparator\x1c",
        "\u2028line\u00a0",
        "</script>&<b>",
    ],
)
def test_awkward_text(text: str) -> None:
    alert = _alert(recipient_name=text, recipient_code=text, episode_ref=text, force_code=text)
    _same(alert, AlertState.SENT, AT, 2, None)


@pytest.mark.parametrize(
    "at",
    [
        AT,
        AT.replace(microsecond=0),
        AT.astimezone(timezone(timedelta(hours=1))),
        datetime(2026, 3, 29, 0, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    ],
)
def test_clocks(at: datetime) -> None:
    _same(_alert(), AlertState.QUEUED, at, 0, None)


@pytest.mark.parametrize(
    "changes", [{"kind": "no-such-kind"}, {"recipient_kind": "pub"}, {"event_type": "lost"}]
)
def test_what_the_model_refused_is_still_refused(changes: dict[str, str]) -> None:
    alert = _alert(**changes)
    with pytest.raises(ValueError):
        _field_by_field(alert, AlertState.SENT, AT)
    with pytest.raises(ValidationError):
        alert_status(alert, AlertState.SENT, AT)
    with pytest.raises(ValidationError):
        alert_status_json(alert, AlertState.SENT, AT)


@given(
    st.text(st.characters(blacklist_categories=["Cs"])),
    st.text(st.characters(blacklist_categories=["Cs"])),
    st.one_of(st.none(), st.text(st.characters(blacklist_categories=["Cs"]), max_size=600)),
)
def test_any_text(name: str, reference: str, detail: str | None) -> None:
    _same(_alert(recipient_name=name, episode_ref=reference), AlertState.SENT, AT, 1, detail)


def test_the_json_has_the_models_fields_in_its_order() -> None:
    _message_id, payload = alert_status_json(_alert(), AlertState.SENT, AT, 1)
    assert list(json.loads(payload)) == list(AlertStatusV1.model_fields)
