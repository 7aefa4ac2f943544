"""The notifier's own settings (its sender, templates and sending lease) over the shared
``RelaySettings``; the same ``RELAY_*`` variables (``RELAY_NOTIFIER_SENDING_LEASE_S``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.runtime.settings import RelaySettings


class NotifierSettings(RelaySettings):
    smtp_from: str = "Missing Episode Relay <relay@localhost>"
    template_dir: Path | None = Field(
        default=None, description="a partnership's alert templates, searched before ours"
    )
    notifier_sending_lease_s: float = Field(
        default=30.0,
        gt=0,
        description="a copy of the notifier holds the alerts it is sending this long "
        "without renewing its claim (it renews them every quarter of it while it "
        "works); alerts a dead copy held are sent by another copy once its lease ends",
    )
