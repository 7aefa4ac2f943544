"""The console's composition root: ``create_app(settings, *, db, broker, clock)``;
nothing runs at import.

The runtime (engine, broker client) is built in ``create_app`` rather than in the
lifespan: the command line and the tests reach the console's database through
``app.state.runtime`` before it starts; building it opens no connection. Consumers
start, and stop, in the lifespan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from faststream.kafka import KafkaBroker
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.console import (
    acknowledging,
    analytics_page,
    audit_page,
    auth,
    child_identity,
    children,
    compliance,
    handlers,
    meeting_pack,
    network,
    pages,
    panel_action_pages,
    panel_pages,
    panel_review_pages,
    retention,
    returns_page,
    reviews,
    rhi_work,
    watchlist,
)
from services.console.organisation_names import OrganisationNames, refresh_loop
from services.console.rendering import STATIC, templates
from services.console.repeat_missing import RepeatRule
from services.console.settings import ConsoleSettings
from services.console.sign_in_throttle import SignInThrottle
from services.console.state import ConsoleState
from services.console.tables import metadata
from services.runtime.ack_links import AckLinks
from services.runtime.ack_links import ack_links as make_ack_links
from services.runtime.database import Clock, Database, utcnow
from services.runtime.health import mount_health
from services.runtime.policy_file import read_policy_file
from services.runtime.retention import load_retention, retention_loop
from services.runtime.service import ServiceRuntime
from services.runtime.settings import RelaySettings

ROUTERS = (
    rhi_work.router,
    reviews.router,
    children.router,
    child_identity.router,
    audit_page.router,
    watchlist.router,
    compliance.router,
    returns_page.router,
    network.router,
    meeting_pack.router,
    panel_pages.router,
    panel_review_pages.router,
    panel_action_pages.router,
    analytics_page.router,
    pages.router,  # last: its paths are the most general
)


def create_app(
    settings: RelaySettings,
    *,
    db: Database | None = None,
    broker: KafkaBroker | None = None,
    clock: Clock | None = None,
    ack_links: AckLinks | None = None,
    page_size: int = pages.PAGE_SIZE,
    refresh_ms: int = pages.REFRESH_MS,
    sse_lifetime_s: float = pages.SSE_LIFETIME_S,
) -> FastAPI:
    """``settings``: a :class:`ConsoleSettings` (shared settings get the console's own
    from the environment). ``sse_lifetime_s``: how long one live-stream connection
    lasts."""
    own = ConsoleSettings.of(settings)
    now = clock or utcnow
    runtime = _runtime(own, db, broker, now)

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
    app.add_exception_handler(auth.LoginRequiredError, auth.on_login_required)
    app.add_exception_handler(auth.NotAllowedError, auth.on_not_allowed)
    app.add_exception_handler(StarletteHTTPException, auth.on_http_error)
    mount_health(app)
    app.include_router(acknowledging.router)
    app.include_router(auth.router)
    sso = None
    if own.console_oidc_issuer:  # authlib is loaded only for single sign-on
        from services.console import single_sign_on

        sso = single_sign_on.enable(app, own)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.state.console = ConsoleState(
        runtime=runtime,
        templates=templates(organisations),
        now=now,
        ack_links=ack_links or make_ack_links(own, now),
        repeat_rule=RepeatRule.from_policy(read_policy_file(own.policy_file)),
        sign_in_throttle=SignInThrottle(),
        cookie_secure=own.console_cookie_secure,
        page_size=int(page_size),
        refresh_ms=int(refresh_ms),
        sse_lifetime_s=float(sse_lifetime_s),
        sso=sso,
    )
    return app


CONSOLE_FETCH_MIN_BYTES = 64 * 1024
CONSOLE_FETCH_MAX_WAIT_MS = 250


def _runtime(
    settings: ConsoleSettings,
    db: Database | None,
    broker: KafkaBroker | None,
    now: Callable[[], datetime],
) -> ServiceRuntime:
    """The console's runtime: its consumers and its retention loop."""
    runtime = ServiceRuntime.build("console", settings, metadata, db=db, broker=broker)
    for topic, handler in handlers.subscriptions():
        runtime.consumers.subscribe(topic, handler)
    # The console is not on an alert's path: a page may show a message up to this much
    # later, for fewer fetches and transactions of the whole stream (issue 18).
    runtime.consumers.gather_fetches(CONSOLE_FETCH_MIN_BYTES, CONSOLE_FETCH_MAX_WAIT_MS)
    runtime.loops.append(
        retention_loop(
            "console",
            runtime.db,
            retention.remove_expired,
            load_retention(settings),
            settings.retention_interval_s,
            now,
        )
    )
    return runtime
