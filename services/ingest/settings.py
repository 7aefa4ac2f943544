"""The ingest service's own settings (its body and rate limits) over the shared
``RelaySettings``; the same ``RELAY_INGEST_*`` variables."""

from __future__ import annotations

from limits import parse_many
from pydantic import Field, field_validator

from services.runtime.settings import RelaySettings


class IngestSettings(RelaySettings):
    ingest_max_event_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="largest body of POST /v1/episode-events (413 beyond it)",
    )
    ingest_max_batch_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        description="largest body of POST /v1/episode-events:batch (413 beyond it)",
    )
    ingest_rate_limit: str = Field(
        default="50/second;1000/minute",
        description="requests each API key may make, as rate limits joined by ';' "
        "(e.g. 10/second;500/minute); beyond them 429 with Retry-After",
    )

    @field_validator("ingest_rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            if parse_many(value):
                return value
        except ValueError:
            pass
        raise ValueError("give one or more limits such as 50/second;1000/minute")
