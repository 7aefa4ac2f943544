"""The notifier's own settings, from the environment (prefix ``RELAY_NOTIFIER_``), read
when the app is created; everything shared is in ``RelaySettings``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifierSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RELAY_NOTIFIER_", extra="ignore", hide_input_in_errors=True
    )

    sending_lease_s: float = Field(
        default=30.0,
        gt=0,
        description="a copy of the notifier holds the alerts it is sending this long "
        "without renewing its claim (it renews them every quarter of it while it "
        "works); alerts a dead copy held are sent by another copy once its lease ends",
    )
