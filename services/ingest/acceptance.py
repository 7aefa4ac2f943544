"""The acceptance decision for one submitted event, whatever channel it came by: pure,
no I/O. Turns raw input into a valid submission, or field errors, or a refusal."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from schemas.episode import EpisodeEventSubmissionV1, EpisodeEventV1, episode_message_id
from schemas.errors import field_errors
from schemas.identifiers import validate_force_code

FieldErrors = list[dict[str, str]]


@dataclass(frozen=True)
class Valid:
    submission: EpisodeEventSubmissionV1


@dataclass(frozen=True)
class Invalid:
    """Bad input (a 422): kept as a reject. ``force_code``/``event_id`` are best effort."""

    errors: FieldErrors
    force_code: str | None
    event_id: str | None


@dataclass(frozen=True)
class Forbidden:
    """A valid force code that is not the key's force (a 403)."""

    force_code: str
    message: str


Decision = Valid | Invalid | Forbidden


@dataclass(frozen=True)
class Reject:
    """Refused input as ingest keeps it (its raw payload apart)."""

    id: str
    received_at: datetime
    channel: str
    source: str
    force_code: str | None
    event_id: str | None
    errors: FieldErrors


def parse_json(raw: bytes | str) -> tuple[Any, FieldErrors]:
    """Decode a JSON document; a decoding failure is an error on ``(body)``."""
    try:
        return json.loads(raw), []
    except (ValueError, UnicodeDecodeError) as exc:
        return None, [{"field": "(body)", "message": f"not valid JSON: {exc}"}]
    except RecursionError:
        return None, [{"field": "(body)", "message": "not valid JSON: nested too deeply"}]


def decide(data: Any, key_force: str | None) -> Decision:
    """Validate decoded JSON. ``key_force`` is the force of the API key, None when the
    channel carries no force (the Kafka topic).

    A valid force code that differs from the key's is refused before the other fields are
    judged: the key may not submit for that force at all, so its content is not kept as
    that force's reject.
    """
    force_code = _best_effort(data, "force_code", 10)
    event_id = _best_effort(data, "event_id", 128)
    if (
        key_force is not None
        and force_code is not None
        and _valid_force(force_code)
        and force_code != key_force
    ):
        return Forbidden(
            force_code,
            f"this API key may only submit events for force {key_force}, not {force_code}",
        )
    try:
        submission = EpisodeEventSubmissionV1.model_validate(data)
    except ValidationError as exc:
        return Invalid(field_errors(exc), force_code, event_id)
    return Valid(submission)


def accepted_event(
    submission: EpisodeEventSubmissionV1, source: str, accepted_at: datetime
) -> EpisodeEventV1:
    """The topic form of an accepted submission: its message id derives from
    (force_code, event_id), so every copy of the same event has the same id."""
    return EpisodeEventV1.model_validate(
        {
            **submission.model_dump(),
            "message_id": episode_message_id(submission.force_code, submission.event_id),
            "accepted_at": accepted_at,
            "source": source[:100],
        }
    )


def _best_effort(data: Any, name: str, max_length: int) -> str | None:
    if not isinstance(data, dict):
        return None
    value = data.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or not _storable(value):
        return None
    return value.strip()[:max_length]


def _storable(value: str) -> bool:
    """Text a reject can keep as an id: no control characters (PostgreSQL refuses NUL)
    and no lone surrogates (not UTF-8)."""
    return value.isprintable()


def _valid_force(value: str) -> bool:
    try:
        validate_force_code(value)
    except ValueError:
        return False
    return True
