"""The console's part of retention (services/runtime/retention.py): episodes whose last
event is older than ``accepted_events`` allows, with everything kept about them (events,
alerts and their states, RHI tasks and their records, identity reviews); rejects; the
oldest audit entries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.console.tables import (
    alert_states,
    alerts,
    audit,
    audit_chains,
    episode_events,
    episodes,
    identity_reviews,
    rejects,
    rhi_records,
    rhi_tasks,
)
from services.runtime import audit_chain
from services.runtime.retention import RetentionPolicy


async def remove_expired(
    session: AsyncSession, policy: RetentionPolicy, now: datetime
) -> dict[str, int]:
    last_seen = func.coalesce(episodes.c.latest_event_at, episodes.c.updated_at)
    expired = select(episodes.c.episode_key).where(
        last_seen < policy.cutoff("accepted_events", now)
    )
    their_alerts = select(alerts.c.alert_id).where(alerts.c.episode_key.in_(expired))
    await session.execute(delete(alert_states).where(alert_states.c.alert_id.in_(their_alerts)))
    their_tasks = select(rhi_tasks.c.task_id).where(rhi_tasks.c.episode_key.in_(expired))
    await session.execute(delete(rhi_records).where(rhi_records.c.task_id.in_(their_tasks)))
    # A record whose task the console never saw (recorded from the command line for a
    # task it had already let go) goes by its own age.
    await session.execute(
        delete(rhi_records).where(
            rhi_records.c.recorded_at < policy.cutoff("accepted_events", now),
            rhi_records.c.task_id.not_in(select(rhi_tasks.c.task_id)),
        )
    )
    for table in (alerts, rhi_tasks, identity_reviews, episode_events):
        await session.execute(delete(table).where(table.c.episode_key.in_(expired)))
    gone_episodes = await session.execute(
        delete(episodes).where(episodes.c.episode_key.in_(expired))
    )
    gone_rejects = await session.execute(
        delete(rejects).where(rejects.c.received_at < policy.cutoff("rejects", now))
    )
    pruned = await audit_chain.prune_before(
        session, audit_chains, audit, "at", policy.cutoff("audit", now)
    )
    return {
        "episodes": int(getattr(gone_episodes, "rowcount", 0) or 0),
        "rejects": int(getattr(gone_rejects, "rowcount", 0) or 0),
        "audit": pruned,
    }
