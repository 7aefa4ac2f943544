"""What the console app holds, typed: built once by ``create_app`` and read by the pages
through :func:`state`, instead of loose attributes on ``app.state`` that every page
would have to know the type of.

``app.state.runtime`` stays too: every service's app keeps its runtime there, and the
command line and the tests reach the database through it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.runtime.handling import Outbox
from services.runtime.rhi_policy import RhiFactors, load_rhi_factors

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

    from services.console.repeat_missing import RepeatRule
    from services.console.sign_in_throttle import SignInThrottle
    from services.runtime.ack_links import AckLinks
    from services.runtime.database import Database
    from services.runtime.service import ServiceRuntime


@dataclass(frozen=True)
class SingleSignOn:
    """The OpenID Connect client (an authlib ``OAuth``) and the claims that carry a
    user's console role and authority."""

    oauth: Any
    role_claim: str
    la_claim: str


@dataclass(frozen=True)
class ConsoleState:
    runtime: ServiceRuntime
    templates: Jinja2Templates
    now: Callable[[], datetime]
    ack_links: AckLinks
    repeat_rule: RepeatRule
    sign_in_throttle: SignInThrottle
    cookie_secure: bool
    page_size: int
    refresh_ms: int
    sse_lifetime_s: float  # how long one live-stream connection lasts
    sso: SingleSignOn | None = None

    @property
    def db(self) -> Database:
        return self.runtime.db

    @cached_property
    def rhi_factors(self) -> RhiFactors:
        # Read once per app, at the first use: the policy file is checked at start-up
        # like every table.
        return load_rhi_factors(self.runtime.settings)

    @asynccontextmanager
    async def publishing(self) -> AsyncIterator[tuple[AsyncSession, Outbox]]:
        """A transaction and the console's outbox in it; the outbox relay is woken once
        the transaction has committed, so what was published goes out at once."""
        async with self.runtime.db.transaction() as session:
            yield session, Outbox(session, self.runtime.tables, self.runtime.settings)
        self.runtime.relay.wake()


def state(request: Request) -> ConsoleState:
    """What the console app holds (set by ``create_app``)."""
    return of_app(request.app)


def of_app(app: FastAPI) -> ConsoleState:
    held: ConsoleState = app.state.console
    return held
