"""The router's composition root: ``create_app(settings, *, db, broker, clock)``; nothing
happens at import."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from sqlalchemy import func, select

from schemas.catalogue import (
    ALERT_ANSWERS,
    CHILD_IDENTITIES,
    CHILD_IDENTITY_CHANGES,
    EPISODE_EVENTS,
    IDENTITY_DECISIONS,
)
from services.router import awaiting_return, disputes, person_index, repository, retention
from services.router.coverage import AuthorityGapError, authority_gaps
from services.router.handlers import (
    on_child_identity_change,
    on_episode_event,
    on_identity_decision,
)
from services.router.model import MatchingModel, ModelFileError, read_model
from services.router.policy import Policy
from services.router.settings import RouterSettings
from services.router.tables import metadata, reviews, roll
from services.runtime.database import Clock, Database, utcnow
from services.runtime.handling import Outbox
from services.runtime.health import mount_health
from services.runtime.policy_file import read_policy_file
from services.runtime.retention import RetentionPolicy, load_retention, retention_loop
from services.runtime.service import ServiceRuntime
from services.runtime.settings import RelaySettings

log = logging.getLogger(__name__)


def load_policy(settings: RelaySettings) -> Policy:
    read_policy_file(settings.policy_file)  # a table no service knows is an error too
    return Policy.from_toml(settings.policy_file) if settings.policy_file else Policy()


def load_matching_model(settings: RouterSettings) -> MatchingModel:
    """The trained matching model (RELAY_MATCHING_MODEL_FILE). A file that does not load
    stops the router, naming the problem: matching with defaults nobody chose would
    disclose children to the wrong school more often than the partnership agreed to."""
    try:
        model = read_model(settings.matching_model_file)
    except ModelFileError as exc:
        log.error("router: refusing to start: %s", exc)
        raise
    log.info(
        "router: matching model %s: match %s, review %s bits; other_given_name_at_home=%s, "
        "birth_date_wrong_at_home=%s",
        settings.matching_model_file,
        model.thresholds.match,
        model.thresholds.review,
        model.rules.other_given_name_at_home,
        model.rules.birth_date_wrong_at_home,
    )
    return model


async def directory_gaps(db: Database, policy: Policy) -> list[str]:
    """:func:`authority_gaps` over the directory in the router's database."""
    async with db.transaction() as session:
        return authority_gaps(await repository.directory_organisations(session), policy)


async def announce_unannounced(runtime: ServiceRuntime) -> int:
    """Publish the person index's links nobody has heard of yet (episodes migrated from
    before the index, router migration 0006), so every read model follows."""
    total = 0
    while True:
        async with runtime.db.transaction() as session:
            links = await person_index.unannounced(session)
            out = Outbox(session, runtime.tables, runtime.settings)
            for link in links:
                await out.publish(CHILD_IDENTITIES, f"{link.force_code}:{link.episode_ref}", link)
        total += len(links)
        if len(links) < person_index.ANNOUNCE_BATCH:
            return total


def create_app(
    settings: RelaySettings,
    *,
    db: Database | None = None,
    broker: KafkaBroker | None = None,
    clock: Clock | None = None,
    policy: Policy | None = None,
    matching_model: MatchingModel | None = None,
    awaiting_return_interval_s: float = awaiting_return.CHECK_INTERVAL_S,
) -> FastAPI:
    """``settings``: a :class:`RouterSettings` (shared settings get the router's own from
    the environment). ``policy`` and ``matching_model`` instead of the files';
    ``awaiting_return_interval_s``: how often RHI tasks waiting for a return are checked."""
    own = RouterSettings.of(settings)
    parts = _Parts(
        own,
        policy or load_policy(own),
        matching_model or load_matching_model(own),
        load_retention(own),  # a wrong [retention] table stops the start
        clock or utcnow,
        awaiting_return_interval_s,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = _runtime(parts, db, broker)
        app.state.runtime = runtime
        await _refuse_authority_gaps(runtime, parts.policy)
        await _live_model(runtime.db, parts.model)
        announced = await announce_unannounced(runtime)
        if announced:
            log.info("router: %d episode link(s) of before the person index announced", announced)
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="Missing Episode Relay: router", lifespan=lifespan)
    mount_health(app)
    return app


@dataclass(frozen=True)
class _Parts:
    """What :func:`create_app` reads once, for the lifespan to build the runtime with."""

    settings: RouterSettings
    policy: Policy
    model: MatchingModel
    kept_for: RetentionPolicy
    clock: Clock
    awaiting_return_interval_s: float


def _runtime(parts: _Parts, db: Database | None, broker: KafkaBroker | None) -> ServiceRuntime:
    """The router's consumers, loops and gauges on a new runtime (not started)."""
    settings = parts.settings
    runtime = ServiceRuntime.build("router", settings, metadata, db=db, broker=broker)
    runtime.consumers.subscribe(
        EPISODE_EVENTS, functools.partial(on_episode_event, policy=parts.policy, model=parts.model)
    )
    runtime.consumers.subscribe(IDENTITY_DECISIONS, on_identity_decision)
    runtime.consumers.subscribe(ALERT_ANSWERS, disputes.on_alert_answer)
    runtime.consumers.subscribe(CHILD_IDENTITY_CHANGES, on_child_identity_change)
    runtime.loops.append(
        retention_loop(
            "router",
            runtime.db,
            retention.remove_expired,
            parts.kept_for,
            settings.retention_interval_s,
            parts.clock,
        )
    )
    runtime.loops.append(
        awaiting_return.loop(
            runtime.db,
            runtime.tables,
            settings,
            runtime.relay,
            parts.clock,
            float(parts.awaiting_return_interval_s),
        )
    )
    runtime.gauges["router_roll_rows"] = functools.partial(_roll_rows, runtime.db)
    runtime.gauges["router_reviews_pending"] = functools.partial(_pending_reviews, runtime.db)
    return runtime


async def _roll_rows(db: Database) -> float:
    async with db.transaction() as session:
        return float(await session.scalar(select(func.count()).select_from(roll)) or 0)


async def _pending_reviews(db: Database) -> float:
    async with db.transaction() as session:
        return float(
            await session.scalar(
                select(func.count()).select_from(reviews).where(reviews.c.state == "pending")
            )
            or 0
        )


async def _live_model(db: Database, model: MatchingModel) -> None:
    """Which name frequencies the router starts matching with (the live roll's or the
    model file's) and what ``other_given_name_at_home: auto`` is with the stored GP
    coverage, logged by the directory cache as it works the model out; again at each
    import that changes them."""
    async with db.transaction() as session:
        await repository.matching_model(session, model)


async def _refuse_authority_gaps(runtime: ServiceRuntime, policy: Policy) -> None:
    """An episode with no responsible authority is dead-lettered and nobody is told
    (issue 17): such a directory and policy stop the router here, naming the fix."""
    gaps = await directory_gaps(runtime.db, policy)
    if gaps:
        for gap in gaps:
            log.error("router: refusing to start: %s", gap)
        await runtime.db.dispose()
        raise AuthorityGapError("; ".join(gaps))
