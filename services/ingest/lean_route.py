"""``POST /v1/episode-events`` answered before FastAPI's router (issue 18).

Police systems post one event a request, so this endpoint is most of ingest's HTTP work.
Through FastAPI each request passes the middleware stack (server errors, telemetry,
exceptions, an exit stack), the router's match over every route, dependency solving and
a second exception wrapper before :func:`api.submit_event` runs; here it runs directly.
The contract is the same: the same handler, the same bearer parsing
(:data:`api.bearer`), and an exception goes to the handler the app registered for it
(``app.exception_handlers``, by the exception's class), else a plain 500 as Starlette's
``ServerErrorMiddleware`` answers, raised again for the server to log. The route stays
declared on the app, so ``/openapi.json`` lists it as before; every other request, and
this path with another method or a trailing slash, goes through FastAPI as before.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from services.ingest import api

PATH = "/v1/episode-events"


class IngestApp(FastAPI):
    """The ingest's FastAPI app, with :data:`PATH`'s POST taken before the router."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            if self.root_path:
                scope["root_path"] = self.root_path
            if get_route_path(scope) == PATH:
                scope["app"] = self
                await self._submit_event(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _submit_event(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await api.submit_event(request, await api.bearer(request))
        except Exception as exc:
            handler = _handler(self.exception_handlers, exc)
            if handler is None:
                await PlainTextResponse("Internal Server Error", 500)(scope, receive, send)
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)


def _handler(handlers: dict[Any, Any], exc: Exception) -> Any:
    for cls in type(exc).__mro__:
        if cls in handlers and cls is not Exception:
            return handlers[cls]
    return None
