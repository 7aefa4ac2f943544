"""Retention (services/runtime/retention.py) of the notifier's tables: alerts and
their attempts, closed RHI tasks, and the oldest disclosure entries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.messages import AlertState, RhiTaskState
from services.notifier.tables import alerts, attempts, audit_chains, disclosures, rhi_tasks
from services.runtime import audit_chain
from services.runtime.retention import RetentionPolicy

# --- retention ------------------------------------------------------------------------

_OPEN_ALERT_STATES = (
    AlertState.QUEUED.value,
    AlertState.SENDING.value,
    AlertState.TEMPORARY_FAILURE.value,
)
_CLOSED_TASK_STATES = (
    RhiTaskState.COMPLETED.value,
    RhiTaskState.DECLINED.value,
    RhiTaskState.NOT_POSSIBLE.value,
)


async def remove_expired(
    session: AsyncSession, policy: RetentionPolicy, now: datetime
) -> dict[str, int]:
    """Retention (services/runtime/retention.py): alerts done with (not waiting to be
    sent) and their attempts, closed RHI tasks, and the oldest disclosure entries."""
    cutoff = policy.cutoff("alerts", now)
    old = select(alerts.c.alert_id).where(
        alerts.c.created_at < cutoff, alerts.c.state.not_in(_OPEN_ALERT_STATES)
    )
    await session.execute(delete(attempts).where(attempts.c.alert_id.in_(old)))
    gone_alerts = await session.execute(
        delete(alerts).where(
            alerts.c.created_at < cutoff, alerts.c.state.not_in(_OPEN_ALERT_STATES)
        )
    )
    gone_tasks = await session.execute(
        delete(rhi_tasks).where(
            rhi_tasks.c.updated_at < cutoff, rhi_tasks.c.state.in_(_CLOSED_TASK_STATES)
        )
    )
    pruned = await audit_chain.prune_before(
        session, audit_chains, disclosures, "at", policy.cutoff("audit", now)
    )
    return {
        "alerts": int(getattr(gone_alerts, "rowcount", 0) or 0),
        "rhi_tasks": int(getattr(gone_tasks, "rowcount", 0) or 0),
        "audit": pruned,
    }
