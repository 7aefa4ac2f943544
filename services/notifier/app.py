"""The notifier's composition root: ``create_app(settings, *, db, broker, clock,
mailer)``; nothing happens at import time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from fastapi import FastAPI
from faststream.kafka import KafkaBroker

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
from services.runtime.ack_links import AckLinks
from services.runtime.ack_links import ack_links as make_ack_links
from services.runtime.database import Clock, Database, utcnow
from services.runtime.health import mount_health
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
    """What :func:`create_app` reads once, from its arguments or the settings, for the
    lifespan to build the service with."""

    settings: NotifierSettings
    now: Callable[[], datetime]
    policy: DeliveryPolicy
    links: AckLinks
    retention: RetentionPolicy
    lease: timedelta
    template_dirs: list[Path]
    batch_size: int


def create_app(
    settings: RelaySettings,
    *,
    db: Database | None = None,
    broker: KafkaBroker | None = None,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    policy: DeliveryPolicy | None = None,
    ack_links: AckLinks | None = None,
    template_dirs: Sequence[Path | str] = (),
    batch_size: int = 50,
    sending_lease: timedelta | None = None,
) -> FastAPI:
    """``settings``: a :class:`NotifierSettings` (shared settings get the notifier's own
    from the environment). For tests and partnerships: ``policy``, ``ack_links``,
    ``template_dirs`` (folders searched before the built-in templates), ``batch_size``,
    ``sending_lease`` (else RELAY_NOTIFIER_SENDING_LEASE_S).
    The running scheduler and runtime are on ``app.state`` once started."""
    own = NotifierSettings.of(settings)
    now = clock or utcnow
    parts = _Parts(
        own,
        now,
        # Read at creation, so a wrong policy file stops the service before it starts.
        policy or load_policy(own),
        ack_links or make_ack_links(own, now),
        load_retention(own),
        sending_lease or timedelta(seconds=own.notifier_sending_lease_s),
        [Path(p) for p in template_dirs] + ([own.template_dir] if own.template_dir else []),
        batch_size,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = ServiceRuntime.build("notifier", own, metadata, db=db, broker=broker)
        sender: Mailer = mailer or SmtpMailer(own.smtp)
        scheduler = _scheduler(runtime, parts, sender)
        _subscribe(runtime, scheduler, parts)
        _add_loops(app, runtime, parts, sender, scheduler)
        app.state.runtime = runtime
        app.state.scheduler = scheduler
        await runtime.start()
        preparing = asyncio.create_task(_prepare(scheduler.renderer, parts.now))
        try:
            yield
        finally:
            preparing.cancel()
            await asyncio.gather(preparing, return_exceptions=True)
            await runtime.stop()
            await sender.close()

    app = FastAPI(title="Missing Episode Relay — notifier", lifespan=lifespan)
    mount_health(app)
    return app


async def _prepare(renderer: Renderer, now: Callable[[], datetime]) -> None:
    """The one-off work of the first emails done at start, a step a turn of the loop:
    the bank holidays of this year and the next loaded, every template compiled
    (issue 18: about 1.5 s of CPU that the first alerts otherwise waited for)."""
    year = now().year
    renderer.policy.calendar.prepare((year, year + 1))
    for folder in renderer.folders():
        await asyncio.sleep(0)
        renderer.prepare(folder)


def _scheduler(runtime: ServiceRuntime, parts: _Parts, mailer: Mailer) -> DeliveryScheduler:
    settings = parts.settings
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
    parts: _Parts,
    mailer: Mailer,
    scheduler: DeliveryScheduler,
) -> None:
    settings, now = parts.settings, parts.now
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
