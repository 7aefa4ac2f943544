"""The console's own settings (single sign-on, its session cookie) over the shared
``RelaySettings``; the same ``RELAY_CONSOLE_*`` variables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr

from services.runtime.settings import FILE_SECRETS, RelaySettings


class ConsoleSettings(RelaySettings):
    file_secrets: ClassVar[dict[str, Callable[[str], Any]]] = {
        **FILE_SECRETS,
        "console_oidc_client_secret": SecretStr,
    }

    console_oidc_issuer: str | None = Field(
        default=None,
        description="single sign-on: the OpenID Connect provider's issuer URL (its "
        "/.well-known/openid-configuration is read); unset = console passwords only",
    )
    console_oidc_client_id: str | None = None
    console_oidc_client_secret: SecretStr | None = None
    console_oidc_client_secret_file: Path | None = None
    console_oidc_role_claim: str = Field(
        default="relay_role", description="the ID token claim naming the console role"
    )
    console_oidc_la_claim: str = Field(
        default="relay_la", description="the ID token claim naming an rhi-worker's authority"
    )
    console_cookie_secure: bool = Field(
        default=True,
        description="the console's session cookie is sent over HTTPS only (browsers also "
        "send it to http://localhost); false only for plain HTTP in development",
    )
