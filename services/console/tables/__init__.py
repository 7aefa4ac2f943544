"""The console's read model (DESIGN §8). Built only from topics; no other service's tables.
One module per concept; every table is importable from here.

Privacy: the console holds the child's name, date of birth, authority, risk factors,
where found and with whom, for the signed-in pages that need them (the child's
timeline, watchlist, links, meeting pack); the stream and the episode pages show
initials and year of birth only. Every row is keyed by an id from its message so that
messages arriving in any order, or twice, converge on the same rows (upserts).
"""

from __future__ import annotations

from services.console.tables.accounts import (
    audit,
    sessions,
    users,
)
from services.console.tables.episode_records import (
    alert_states,
    alerts,
    child_links,
    child_merges,
    episode_events,
    episodes,
    identity_reviews,
    rhi_records,
    rhi_tasks,
)
from services.console.tables.inbound import (
    acknowledgements,
    alert_answers,
    dead_letters,
    rejects,
)
from services.console.tables.metadata import metadata
from services.console.tables.panel import (
    panel_actions,
    panel_meetings,
    panel_reviews,
)
from services.runtime.audit_chain import chain_heads
from services.runtime.messaging import messaging_tables

audit_chains = chain_heads(metadata, "console")

messaging = messaging_tables(metadata, "console")

__all__ = [
    "acknowledgements",
    "alert_answers",
    "alert_states",
    "alerts",
    "audit",
    "audit_chains",
    "child_links",
    "child_merges",
    "dead_letters",
    "episode_events",
    "episodes",
    "identity_reviews",
    "messaging",
    "metadata",
    "panel_actions",
    "panel_meetings",
    "panel_reviews",
    "rejects",
    "rhi_records",
    "rhi_tasks",
    "sessions",
    "users",
]
