"""The ingest service's composition root: ``create_app(settings, *, db, broker, clock)``;
nothing at import."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from sqlalchemy.exc import DBAPIError

from schemas.catalogue import ALERT_ANSWERS, ALERT_STATUS, POLICE_EVENTS_RAW
from services.ingest import api, episodes_api, repository
from services.ingest.handlers import on_alert_answer, on_alert_status, on_police_event
from services.ingest.intake import Intake
from services.ingest.lean_route import IngestApp
from services.ingest.publishing import DEFAULT_ACK_TIMEOUT_S, DirectPublisher
from services.ingest.rate_limits import KeyRateLimits
from services.ingest.replay import replay
from services.ingest.settings import IngestSettings
from services.ingest.tables import metadata
from services.runtime.database import Clock, Database, utcnow
from services.runtime.health import mount_health
from services.runtime.retention import RetentionPolicy, load_retention, retention_loop
from services.runtime.service import ServiceRuntime
from services.runtime.settings import RelaySettings

log = logging.getLogger(__name__)


def create_app(
    settings: RelaySettings,
    *,
    db: Database | None = None,
    broker: KafkaBroker | None = None,
    clock: Clock | None = None,
    publisher: DirectPublisher | None = None,
    ack_timeout_s: float = DEFAULT_ACK_TIMEOUT_S,
) -> FastAPI:
    """``settings``: an :class:`IngestSettings` (shared settings get the ingest's own
    from the environment). ``db``, ``broker``: the runtime's; ``publisher``: a
    :class:`DirectPublisher` for the accept path (e.g. one whose broker is away)."""
    own = IngestSettings.of(settings)
    retention = load_retention(own)  # a wrong policy file stops the start
    wiring = _Wiring(own, retention, clock or utcnow, publisher, ack_timeout_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = ServiceRuntime.build("ingest", own, metadata, db=db, broker=broker)
        app.state.intake = wiring.wire(runtime)
        app.state.runtime = runtime
        await runtime.start()
        try:
            if own.replay_on_start:
                # A fresh memory-only broker: refill episode-events with the whole log.
                count = await replay(runtime.db, runtime.broker, own)
                log.info("ingest: replayed %d accepted events at start", count)
            yield
        finally:
            await runtime.stop()

    app = IngestApp(
        title="Missing Episode Relay: ingest",
        version="1",
        lifespan=lifespan,
        description="Police systems submit missing-child episode events here, and see "
        "who has been told about their episodes.",
    )
    app.state.rate_limits = KeyRateLimits(own.ingest_rate_limit)
    app.state.body_limits = api.BodyLimits(own.ingest_max_event_bytes, own.ingest_max_batch_bytes)
    app.include_router(api.router)
    app.include_router(episodes_api.router)
    mount_health(app)
    app.exception_handler(api.RequestError)(_request_error)
    app.add_exception_handler(DBAPIError, _store_unavailable)
    # The statements run on SQLite's driver (services/runtime/prepared.py) raise its own.
    app.add_exception_handler(sqlite3.Error, _store_unavailable)
    app.add_exception_handler(OSError, _store_unavailable)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


@dataclass(frozen=True)
class _Wiring:
    """What :func:`create_app` was given, for the lifespan to wire its runtime with."""

    settings: IngestSettings
    retention: RetentionPolicy
    clock: Clock
    publisher: DirectPublisher | None
    ack_timeout_s: float

    def wire(self, runtime: ServiceRuntime) -> Intake:
        """The runtime's loops, subscriptions and gauges; the intake of the accept path."""
        settings = self.settings
        runtime.loops.append(
            retention_loop(
                "ingest",
                runtime.db,
                repository.remove_expired,
                self.retention,
                settings.retention_interval_s,
                self.clock,
            )
        )
        runtime.consumers.subscribe(POLICE_EVENTS_RAW, on_police_event, raw=True)
        # Who knows about each episode, for GET /v1/episodes/… (issue 17).
        runtime.consumers.subscribe(ALERT_STATUS, on_alert_status)
        runtime.consumers.subscribe(ALERT_ANSWERS, on_alert_answer)
        publisher = self.publisher or DirectPublisher(runtime.broker, self.ack_timeout_s)
        intake = Intake(runtime.db, publisher, settings, runtime.relay)
        _gauges(runtime, intake)
        runtime.on_broker_lost.append(
            lambda since: replay(runtime.db, runtime.broker, settings, since)
        )
        return intake


async def _request_error(request: Request, exc: api.RequestError) -> JSONResponse:
    headers = dict(exc.headers or {})
    # A 413, or a 401 before the body was read: let every client read the answer.
    if not await api.discard_unread_body(request):
        headers["Connection"] = "close"
    return JSONResponse(exc.body, exc.status, headers=headers)


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The database is away (restarting, failing over, network): nothing was logged,
    # so nothing was accepted. An event already published goes again on the retry
    # with the same message id, which consumers absorb.
    log.warning("ingest: database unavailable (%s); answered 503", type(exc).__name__)
    return JSONResponse(
        {"error": "the ingest store is unavailable; nothing was accepted; retry"},
        503,
        headers={"Retry-After": "5"},
    )


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The app's OpenAPI document with the request models of the raw-body routes."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                api.openapi_components()
            )
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def _gauges(runtime: ServiceRuntime, intake: Intake) -> None:
    counters = intake.counters
    for status in ("accepted", "duplicate", "rejected", "forbidden", "unavailable"):
        runtime.gauges[f"ingest_events_{status}_total"] = _counter(counters, status)

    async def logged() -> float:
        async with runtime.db.transaction() as session:
            return float(await repository.count_events(session))

    runtime.gauges["ingest_event_log_size"] = logged


def _counter(counters: Any, name: str) -> Any:
    async def read() -> float:
        return float(getattr(counters, name))

    return read
