"""How long each kind of data is kept: the policy file's ``[retention]`` table, enforced
by ``relay retention run`` and by each service on a schedule (every
``RELAY_RETENTION_INTERVAL_S``). Each service removes its own kinds in one transaction:

- ``accepted_events`` (ingest's accepted-event log; the console's episodes and the
  router's person index by their last event): 400 days. Long enough for a year's
  inspections and the 90-day repeat-missing window with a margin; a replay can refill
  a lost broker from it only within that time.
- ``rejects`` (input ingest refused, payload included): 30 days, for the police
  integrator to see, fix and resend.
- ``alerts`` (the notifier's alerts in a final state, their attempts, closed RHI tasks):
  400 days: who was told what and whether they acknowledged, for a year's reviews.
- ``audit`` (the console's views and exports, the notifier's disclosures): 6 years, the
  limitation period for a claim (Limitation Act 1980, s.2), so a child can find out who
  saw their record.

docs/security.md gives the reasoning in full.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.runtime.database import Database
from services.runtime.policy_file import PolicyFileError, read_policy_file
from services.runtime.settings import RelaySettings

log = logging.getLogger(__name__)

DEFAULT_DAYS = {"accepted_events": 400, "rejects": 30, "alerts": 400, "audit": 6 * 365}
MAX_DAYS = 100 * 365


@dataclass(frozen=True)
class RetentionPolicy:
    days: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_DAYS))

    @classmethod
    def from_sections(cls, sections: dict[str, Any], source: str = "policy") -> RetentionPolicy:
        table = sections.get("retention", {})
        days = dict(DEFAULT_DAYS)
        for key, value in table.items():
            kind = key.removesuffix("_days")
            if not key.endswith("_days") or kind not in DEFAULT_DAYS:
                known = ", ".join(f"{k}_days" for k in DEFAULT_DAYS)
                raise PolicyFileError(f"{source}: [retention] {key}: unknown; known: {known}")
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_DAYS:
                raise PolicyFileError(
                    f"{source}: [retention] {key} = {value!r}: a whole number of days, "
                    f"1 to {MAX_DAYS}"
                )
            days[kind] = value
        return cls(days)

    def cutoff(self, kind: str, now: datetime) -> datetime:
        """Data of ``kind`` from before this time is removed."""
        return now - timedelta(days=self.days[kind])


def load_retention(settings: RelaySettings) -> RetentionPolicy:
    source = str(settings.policy_file) if settings.policy_file else "policy"
    return RetentionPolicy.from_sections(read_policy_file(settings.policy_file), source)


# A service's sweep: removes its kinds older than the policy allows, in the session's
# transaction; how many rows of each kind went.
Sweep = Callable[[AsyncSession, RetentionPolicy, datetime], Awaitable[dict[str, int]]]


async def sweep_once(
    db: Database, sweep: Sweep, policy: RetentionPolicy, now: datetime
) -> dict[str, int]:
    async with db.transaction() as session:
        return await sweep(session, policy, now)


def retention_loop(
    service: str,
    db: Database,
    sweep: Sweep,
    policy: RetentionPolicy,
    interval_s: float,
    now: Callable[[], datetime],
) -> Callable[[], Awaitable[None]]:
    """A service loop (ServiceRuntime.loops): a sweep soon after start, then every
    ``interval_s``. Counts are logged, never what was removed."""

    async def retention() -> None:
        await asyncio.sleep(min(60.0, interval_s))  # not in the way of start-up
        while True:
            removed = await sweep_once(db, sweep, policy, now())
            if any(removed.values()):
                counts = ", ".join(f"{n} {kind}" for kind, n in sorted(removed.items()) if n)
                log.info("%s: retention removed %s", service, counts)
            await asyncio.sleep(interval_s)

    return retention
