"""``GET /v1/episodes/{force_code}/{episode_ref}``: a force sees who knows about one of its
episodes (DESIGN §10, issue 17), with the same API key it posts events with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import TypeAdapter, ValidationError

from schemas.episode import EpisodeRef
from schemas.episode_status import EpisodeStatusV1
from schemas.identifiers import validate_force_code
from services.ingest import episode_status, status_repository
from services.ingest.api import Key, RequestError
from services.runtime.database import Database

router = APIRouter()

_EPISODE_REF: TypeAdapter[str] = TypeAdapter(EpisodeRef)

# The parts of the path as the OpenAPI document describes them. Checked by
# `checked_address`, not by FastAPI, so that a 422 has the POST's `errors` form.
ForceCodePart = Annotated[
    str,
    Path(
        description="The 2-digit police force code; the API key's force",
        json_schema_extra={"pattern": "^[0-9]{2}$", "examples": ["10"]},
    ),
]
EpisodeRefPart = Annotated[
    str,
    Path(
        description="The police reference of the episode, as sent in `episode_ref`",
        json_schema_extra={
            **{k: v for k, v in _EPISODE_REF.json_schema().items() if k != "type"},
            "examples": ["10-2026-000123"],
        },
    ),
]


@dataclass(frozen=True)
class EpisodeAddress:
    force_code: str
    episode_ref: str


@router.get(
    # `:path` so that a reference with slashes (MISS/2026/0042) may be sent as it is.
    "/v1/episodes/{force_code}/{episode_ref:path}",
    summary="Who knows about an episode: its events, recipients and their alerts",
    description="With an API key of the episode's force. `events` are those ingest "
    "accepted, in accepted order. `recipients` are the organisations alerted, in the "
    "order they were first alerted, each with its alerts: state, when sent, when "
    "acknowledged, and the answer given on the acknowledgement page (an `information` "
    "answer's text goes to the police contact by email, never here). An alert shows once "
    "the notifier has published its first status. `episode_ref` may contain `/`, as "
    "it is or percent-encoded.",
    response_model=EpisodeStatusV1,
    responses={
        200: {"description": "The episode: its events, and who was told and how far it got"},
        401: {"description": "Missing, unknown or revoked API key"},
        403: {"description": "force_code is not the API key's force"},
        404: {"description": "No event of this episode was accepted from this force"},
        422: {"description": "A malformed force_code or episode_ref, each named in `errors`"},
        429: {"description": "Too many requests with this key: retry after Retry-After s"},
    },
)
async def get_episode_status(
    request: Request, key: Key, force_code: ForceCodePart, episode_ref: EpisodeRefPart
) -> EpisodeStatusV1:
    address = checked_address(force_code, episode_ref)
    if address.force_code != key.force_code:
        raise RequestError(
            403,
            {
                "error": f"this API key may only read episodes of force {key.force_code}, "
                f"not {address.force_code}"
            },
        )
    force, ref = address.force_code, address.episode_ref
    db: Database = request.app.state.runtime.db
    async with db.transaction() as session:
        events = await status_repository.events_of(session, force, ref)
        alerts = await status_repository.alerts_of(session, force, ref)
        answers = await status_repository.answers_of(session, force, ref)
    if not events:
        raise RequestError(
            404, {"error": f"no event of episode {ref!r} has been accepted from force {force}"}
        )
    return episode_status.episode_status(force, ref, events, alerts, answers)


def checked_address(force_code: str, episode_ref: str) -> EpisodeAddress:
    """The path's force code and reference as the log keeps them, or a 422 naming each
    one that is malformed (in the POST's ``errors`` form)."""
    errors: list[dict[str, str]] = []
    try:
        force_code = validate_force_code(force_code)
    except ValueError as exc:
        errors.append({"field": "force_code", "message": str(exc)})
    try:
        episode_ref = _EPISODE_REF.validate_python(episode_ref)
    except ValidationError as exc:
        message = exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
        errors.append({"field": "episode_ref", "message": message})
    if errors:
        raise RequestError(422, {"errors": errors})
    return EpisodeAddress(force_code, episode_ref)
