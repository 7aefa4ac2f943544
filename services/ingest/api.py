"""The HTTP API police systems post to (DESIGN §4)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import ClientDisconnect

from schemas.episode import EpisodeEventSubmissionV1
from services.ingest import repository
from services.ingest.intake import Channel, Intake, Item, ItemResult, items_from_json_text
from services.ingest.keys import hash_key, key_force
from services.ingest.rate_limits import KeyRateLimits
from services.ingest.repository import ApiKey

MAX_BATCH_ITEMS = 5000
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")
# Most of an unwanted body read (and dropped) so that its error answer can be read.
DISCARD_AT_MOST = 64 * 1024 * 1024

router = APIRouter()
bearer = HTTPBearer(auto_error=False, description="An ingest API key: `mer_<force>_…`")


@dataclass(frozen=True)
class BodyLimits:
    """Largest bodies taken (settings ``ingest_max_event_bytes``, ``…_batch_bytes``)."""

    event: int
    batch: int


class RequestError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        self.status, self.body, self.headers = status, body, headers


def _intake(request: Request) -> Intake:
    return request.app.state.intake  # type: ignore[no-any-return]


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    """401 for a missing key."""
    if credentials is None or not credentials.credentials:
        raise RequestError(
            401,
            {"error": "missing API key: send Authorization: Bearer <key>"},
            {"WWW-Authenticate": "Bearer"},
        )
    return credentials.credentials


async def api_key(request: Request, credentials: Credentials) -> ApiKey:
    """401 for a missing, unknown or revoked key."""
    token = _token(credentials)
    async with _intake(request).db.transaction() as session:
        key = await repository.active_key(session, hash_key(token))
    return await _allowed(request, key)


async def _allowed(request: Request, key: ApiKey | None) -> ApiKey:
    """401 for an unknown or revoked key, 429 when the key's rate limit is full."""
    if key is None:
        raise RequestError(
            401,
            {"error": "unknown or revoked API key"},
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    limits: KeyRateLimits = request.app.state.rate_limits
    if full := limits.retry_after(key.id):
        wait, limit = full
        raise RequestError(
            429,
            {
                "error": f"too many requests with this API key (limit {limit}): retry after "
                f"{wait} s, or send events in batches"
            },
            {"Retry-After": str(wait)},
        )
    return key


Key = Annotated[ApiKey, Depends(api_key)]

_SINGLE = {
    "accepted": 202,
    "duplicate": 200,
    "rejected": 422,
    "forbidden": 403,
    "unavailable": 503,
}


@router.post(
    "/v1/episode-events",
    summary="Submit one missing-episode event",
    responses={
        202: {"description": "Accepted: the broker has the event"},
        200: {"description": "Duplicate: this event_id was accepted before"},
        401: {"description": "Missing, unknown or revoked API key"},
        403: {"description": "force_code is not the API key's force"},
        413: {"description": "Body too large"},
        429: {"description": "Too many requests with this key: retry after Retry-After s"},
        422: {"description": "Invalid, with every field's error; kept as a reject"},
        503: {
            "description": "The broker or the ingest store cannot take the event; nothing "
            "was accepted; retry (after Retry-After seconds when given)"
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/EpisodeEventSubmissionV1"}
                }
            },
        }
    },
)
async def submit_event(request: Request, credentials: Credentials) -> JSONResponse:
    # The key is looked up with the event's duplicate check, in one transaction (issue
    # 18), so after the body (at most ingest_max_event_bytes) is read: a missing key is
    # still refused before, an unknown, revoked or rate-limited one after.
    token = _token(credentials)
    body = await _read(request, _body_limits(request).event)
    item = items_from_json_text(body.decode(errors="replace"))
    intake = _intake(request)
    found, decided = await intake.key_and_seen(hash_key(token), [item], key_force(token))
    key = await _allowed(request, found)
    [result] = await intake.submit(
        [item], key_force=key.force_code, source=key.name, channel="http", decided=decided
    )
    status = _SINGLE[result.status]
    if result.status in ("accepted", "duplicate"):
        return JSONResponse({"status": result.status, "event_id": result.event_id}, status)
    if result.status == "rejected":
        return JSONResponse({"errors": result.errors}, status)
    return JSONResponse({"error": result.errors[0]["message"]}, status)


@router.post(
    "/v1/episode-events:batch",
    summary="Submit many events: a JSON array, or NDJSON (application/x-ndjson)",
    description=f"At most {MAX_BATCH_ITEMS} items and RELAY_INGEST_MAX_BATCH_BYTES bytes "
    "(8 MiB unless set). "
    "Answers per item: accepted, duplicate, rejected (with errors; kept as a reject) or "
    "unavailable (the broker did not take it: retry that item). `index` counts items from "
    "0 (NDJSON: non-blank lines). `relay ingest` sends `X-Relay-Channel: file` so its "
    "rejects are kept as from a file.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/EpisodeEventSubmissionV1"},
                    }
                },
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
)
async def submit_batch(request: Request, key: Key) -> JSONResponse:
    body = (await _read(request, _body_limits(request).batch)).decode(errors="replace")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    channel: Channel = "file" if request.headers.get("x-relay-channel") == "file" else "http"
    intake = _intake(request)
    if content_type in NDJSON_TYPES:
        # Lines end at a line feed only: JSON strings may hold U+2028, \f and the like,
        # at which str.splitlines() would also break.
        items = [items_from_json_text(line) for line in body.split("\n") if line.strip()]
    else:
        whole = items_from_json_text(body)
        if whole.parse_errors or not isinstance(whole.data, list):
            errors = whole.parse_errors or [
                {
                    "field": "(body)",
                    "message": "expected a JSON array of events (or NDJSON "
                    "with Content-Type: application/x-ndjson)",
                }
            ]
            await intake.submit(
                [Item(None, body, errors)],
                key_force=key.force_code,
                source=key.name,
                channel=channel,
            )
            return JSONResponse({"errors": errors}, 422)
        items = [Item(data, json.dumps(data)) for data in whole.data]
    if len(items) > MAX_BATCH_ITEMS:
        raise RequestError(
            413,
            {
                "error": f"a batch holds at most {MAX_BATCH_ITEMS} items; "
                f"this one has {len(items)}: split it"
            },
        )
    results = await intake.submit(items, key_force=key.force_code, source=key.name, channel=channel)
    return JSONResponse({"results": [_batch_item(r) for r in results]}, 200)


def _batch_item(result: ItemResult) -> dict[str, Any]:
    # A foreign force code in a batch is that item's fault, not the request's.
    if result.status == "forbidden":
        result.status = "rejected"
    return result.as_json()


async def _read(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            request.state.body_read = size
            raise _too_large(limit)
        chunks.append(chunk)
    request.state.body_read = None  # all of it
    return b"".join(chunks)


async def discard_unread_body(request: Request) -> bool:
    """Read what is left of the request body and drop it, so that an error answer sent
    before the body was read reaches the client; False when the connection should close
    instead.

    Python's urllib and requests send the whole body before they read the answer: if the
    server answers and closes with the body still arriving, the kernel resets the
    connection and the client sees "connection reset by peer", never the 413. curl
    waits for ``100 Continue``, which nobody sends here: it reads the answer, sends no
    body, and there is nothing to drain. Beyond :data:`DISCARD_AT_MOST` bytes the body
    is not worth reading; the connection closes."""
    read = getattr(request.state, "body_read", 0)
    if read is None:
        return True  # read to its end already
    if read == 0 and "100-continue" in request.headers.get("expect", "").lower():
        return False  # the client sends nothing before our answer
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > DISCARD_AT_MOST:
        return False
    try:
        # The request's own stream, or the rest of it: receive() until the last part.
        async for chunk in Request(request.scope, request.receive).stream():
            read += len(chunk)
            if read > DISCARD_AT_MOST:
                return False
    except ClientDisconnect:
        return False
    request.state.body_read = None
    return True


def _body_limits(request: Request) -> BodyLimits:
    return request.app.state.body_limits  # type: ignore[no-any-return]


def _too_large(limit: int) -> RequestError:
    return RequestError(413, {"error": f"the body is over {limit:,} bytes: split it"})


def openapi_components() -> dict[str, Any]:
    """The submission model and its parts, for ``/openapi.json``."""
    schema = EpisodeEventSubmissionV1.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {"EpisodeEventSubmissionV1": schema, **defs}
