"""``/healthz`` and ``/metrics`` on every service's app, one way: answered by the
:class:`ServiceRuntime` on ``app.state.runtime``, and "starting" (503) until there is
one (an app builds its runtime in its lifespan, after the routes are mounted)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response

from services.runtime.service import ServiceRuntime

STARTING = '{"status": "starting"}'


def mount_health(app: FastAPI) -> None:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz(request: Request) -> Response:
        runtime = _runtime(request)
        return await runtime.healthz() if runtime else _starting()

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        runtime = _runtime(request)
        return await runtime.metrics() if runtime else _starting()

    app.include_router(router)


def _runtime(request: Request) -> ServiceRuntime | None:
    return getattr(request.app.state, "runtime", None)


def _starting() -> Response:
    return Response(STARTING, 503, media_type="application/json")
