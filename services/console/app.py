"""The console's composition root: ``create_app(settings)``; nothing runs at import.

The runtime (engine, broker client) is built in ``create_app`` rather than in the
lifespan so that ``/healthz`` and ``/metrics`` can be mounted with the pages; building it
opens no connection. Consumers start, and stop, in the lifespan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.console import (
    acknowledging,
    analytics_page,
    audit,
    auth,
    child_identity,
    children,
    compliance,
    handlers,
    meeting_pack,
    network,
    pages,
    panel_pages,
    retention,
    returns_page,
    reviews,
    rhi_work,
    watchlist,
)
from services.console.organisation_names import OrganisationNames, refresh_loop
from services.console.rendering import STATIC, templates
from services.console.sign_in_throttle import SignInThrottle
from services.console.tables import metadata
from services.runtime.ack_links import ack_links
from services.runtime.database import utcnow
from services.runtime.policy_file import read_policy_file
from services.runtime.retention import load_retention, retention_loop
from services.runtime.service import ServiceRuntime
from services.runtime.settings import RelaySettings


def create_app(settings: RelaySettings, **overrides: Any) -> FastAPI:
    """Overrides: ``db``, ``broker`` (for the runtime), ``page_size``, ``refresh_ms``,
    ``sse_lifetime_s`` (how long one live-stream connection lasts),
    ``now`` (a clock) and ``ack_links`` (an :class:`AckLinks`)."""
    runtime = ServiceRuntime.build(
        "console", settings, metadata, db=overrides.get("db"), broker=overrides.get("broker")
    )
    for topic, handler in handlers.subscriptions():
        runtime.consumers.subscribe(topic, handler)
    runtime.loops.append(
        retention_loop(
            "console",
            runtime.db,
            retention.remove_expired,
            load_retention(settings),
            settings.retention_interval_s,
            overrides.get("now", utcnow),
        )
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="Missing Episode Relay console", lifespan=lifespan)
    app.state.runtime = runtime
    organisations = OrganisationNames()
    runtime.loops.append(refresh_loop(runtime.db, organisations))
    app.state.templates = templates(organisations)
    app.state.page_size = int(overrides.get("page_size", pages.PAGE_SIZE))
    app.state.refresh_ms = int(overrides.get("refresh_ms", pages.REFRESH_MS))
    app.state.sse_lifetime_s = float(overrides.get("sse_lifetime_s", pages.SSE_LIFETIME_S))
    app.state.now = overrides.get("now", utcnow)
    app.state.ack_links = overrides.get("ack_links") or ack_links(settings, app.state.now)
    app.state.cookie_secure = settings.console_cookie_secure
    app.state.sign_in_throttle = SignInThrottle()
    app.state.repeat_rule = watchlist.RepeatRule.from_policy(read_policy_file(settings.policy_file))
    app.add_exception_handler(auth.LoginRequiredError, auth.on_login_required)
    app.add_exception_handler(auth.NotAllowedError, auth.on_not_allowed)
    app.add_exception_handler(StarletteHTTPException, auth.on_http_error)
    app.include_router(runtime.health_router())
    app.include_router(acknowledging.router)
    app.include_router(auth.router)
    app.state.sso = None
    if settings.console_oidc_issuer:  # authlib is loaded only for single sign-on
        from services.console import single_sign_on

        single_sign_on.enable(app, settings)
    app.include_router(rhi_work.router)
    app.include_router(reviews.router)
    app.include_router(children.router)
    app.include_router(child_identity.router)
    app.include_router(audit.router)
    app.include_router(watchlist.router)
    app.include_router(compliance.router)
    app.include_router(returns_page.router)
    app.include_router(network.router)
    app.include_router(meeting_pack.router)
    app.include_router(panel_pages.router)
    app.include_router(analytics_page.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
