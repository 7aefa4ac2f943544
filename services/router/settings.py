"""The router's own settings (its matching model) over the shared ``RelaySettings``;
the same ``RELAY_*`` variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.runtime.settings import RelaySettings


class RouterSettings(RelaySettings):
    matching_model_file: Path = Field(
        default=Path("deploy/matching-model.json"),
        description="the router's trained matching model (relay matching train); the "
        "router refuses to start when it does not load",
    )
