"""The notifier's composition root: ``create_app(settings, **overrides)``; nothing
happens at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from schemas.catalogue import (
    ACKNOWLEDGEMENTS,
    ALERT_ANSWERS,
    ALERTS_REQUESTED,
    CHILD_IDENTITIES,
    PANEL_ACTIONS,
    RHI_TASK_OUTCOMES,
    RHI_TASKS_REQUESTED,
)
from services.notifier import answers, child_links, handlers, panel_actions, repository
from services.notifier.operations import watch_dead_letters
from services.notifier.policy import DeliveryPolicy
from services.notifier.rendering import Renderer
from services.notifier.scheduler import DeliveryScheduler
from services.notifier.settings import NotifierSettings
from services.notifier.smtp import Mailer, SmtpMailer
from services.notifier.tables import metadata
from services.runtime.ack_links import AckLinks, ack_links
from services.runtime.database import utcnow
from services.runtime.policy_file import read_policy_file
from services.runtime.retention import RetentionPolicy, load_retention, retention_loop
from services.runtime.service import ServiceRuntime
from services.runtime.settings import RelaySettings


def load_policy(settings: RelaySettings) -> DeliveryPolicy:
    """The notifier's tables of the policy file; raises ``PolicyError`` or
    ``PolicyFileError`` naming the table and key."""
    source = str(settings.policy_file) if settings.policy_file else "policy"
    return DeliveryPolicy.from_sections(read_policy_file(settings.policy_file), source)


@dataclass(frozen=True)
class _Parts:
    """What :func:`create_app` reads once, from its overrides or the settings, for the
    lifespan to build the service with."""

    now: Callable[[], datetime]
    policy: DeliveryPolicy
    links: AckLinks
    retention: RetentionPolicy
    lease: timedelta
    template_dirs: list[Path]
    batch_size: int
    mailer: Mailer | None


def _parts(settings: RelaySettings, overrides: dict[str, Any]) -> _Parts:
    now: Callable[[], datetime] = overrides.get("now", utcnow)
    # Read at creation, so a wrong policy file stops the service before it starts.
    policy: DeliveryPolicy = overrides.get("policy") or load_policy(settings)
    links: AckLinks = overrides.get("ack_links") or ack_links(settings, now)
    retention = load_retention(settings)
    lease: timedelta = overrides.get("sending_lease") or timedelta(
        seconds=NotifierSettings().sending_lease_s
    )
    template_dirs: list[Path] = [Path(p) for p in overrides.get("template_dirs", ())]
    if settings.template_dir is not None:
        template_dirs.append(settings.template_dir)
    return _Parts(
        now,
        policy,
        links,
        retention,
        lease,
        template_dirs,
        overrides.get("batch_size", 50),
        overrides.get("mailer"),
    )


def create_app(settings: RelaySettings, **overrides: Any) -> FastAPI:
    """Overrides (for tests and partnerships): ``now`` (a clock), ``policy``,
    ``ack_links``, ``mailer``,
    ``template_dirs`` (folders searched before the built-in templates), ``batch_size``,
    ``sending_lease`` (a timedelta; else RELAY_NOTIFIER_SENDING_LEASE_S).
    The running scheduler and runtime are on ``app.state`` once started."""
    parts = _parts(settings, overrides)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = ServiceRuntime.build("notifier", settings, metadata)
        mailer: Mailer = parts.mailer or SmtpMailer(settings.smtp)
        scheduler = _scheduler(runtime, settings, parts, mailer)
        _subscribe(runtime, scheduler, parts)
        _add_loops(app, runtime, settings, parts, mailer, scheduler)
        # Routes are looked up per request, so adding them here (where the runtime
        # exists) serves /healthz and /metrics from the first request on.
        app.include_router(runtime.health_router())
        app.state.runtime = runtime
        app.state.scheduler = scheduler
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()
            await mailer.close()

    app = FastAPI(title="Missing Episode Relay — notifier", lifespan=lifespan)

    return app


def _scheduler(
    runtime: ServiceRuntime, settings: RelaySettings, parts: _Parts, mailer: Mailer
) -> DeliveryScheduler:
    renderer = Renderer(
        settings.public_url,
        settings.smtp_from,
        parts.template_dirs,
        parts.links.url,
        policy=parts.policy,
    )
    return DeliveryScheduler(
        runtime.db,
        runtime.tables,
        settings,
        renderer,
        mailer,
        relay=runtime.relay,
        now=parts.now,
        batch_size=parts.batch_size,
        policy=parts.policy,
        lease=parts.lease,
    )


def _subscribe(runtime: ServiceRuntime, scheduler: DeliveryScheduler, parts: _Parts) -> None:
    now, policy = parts.now, parts.policy
    subscribe = runtime.consumers.subscribe
    subscribe(
        ALERTS_REQUESTED,
        partial(handlers.on_alert_requested, now=now, wake=scheduler.wake, policy=policy),
    )
    subscribe(RHI_TASKS_REQUESTED, partial(handlers.on_rhi_task_requested, now=now, policy=policy))
    subscribe(ACKNOWLEDGEMENTS, partial(handlers.on_acknowledgement, now=now))
    subscribe(RHI_TASK_OUTCOMES, partial(handlers.on_rhi_task_outcome, now=now))
    subscribe(ALERT_ANSWERS, partial(answers.on_alert_answer, now=now, wake=scheduler.wake))
    subscribe(CHILD_IDENTITIES, child_links.on_child_identity)
    # Overdue MSET panel actions, to their owner organisation (issue 20).
    subscribe(PANEL_ACTIONS, panel_actions.on_panel_action)


def _add_loops(
    app: FastAPI,
    runtime: ServiceRuntime,
    settings: RelaySettings,
    parts: _Parts,
    mailer: Mailer,
    scheduler: DeliveryScheduler,
) -> None:
    now = parts.now
    app.state.panel_notices = panel_actions.PanelActionNotices(
        runtime.db, mailer, settings.smtp_from, settings.public_url, now
    )
    runtime.loops.append(app.state.panel_notices.run)
    runtime.loops.append(scheduler.run)
    # Dead letters on the routing path, emailed to operations_email (issue 17).
    app.state.operations = watch_dead_letters(runtime, settings, mailer, now)
    runtime.loops.append(
        retention_loop(
            "notifier",
            runtime.db,
            repository.remove_expired,
            parts.retention,
            settings.retention_interval_s,
            now,
        )
    )

    async def alerts_due() -> float:
        async with runtime.db.transaction() as session:
            return float(await repository.count_due(session, now()))

    runtime.gauges["notifier_alerts_due"] = alerts_due
