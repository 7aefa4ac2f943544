"""Settings from the environment, prefix ``RELAY_`` (DESIGN §3), with laptop defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ServiceName = Literal["ingest", "router", "notifier", "console"]
SERVICES: tuple[ServiceName, ...] = ("ingest", "router", "notifier", "console")


class RelaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RELAY_", extra="ignore")

    kafka_bootstrap: str | None = Field(
        default=None, description="host:port[,host:port]; unset = the embedded broker"
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL shared by every service; unset = SQLite files"
    )
    ingest_database_url: str | None = None
    router_database_url: str | None = None
    notifier_database_url: str | None = None
    console_database_url: str | None = None
    smtp_url: str | None = Field(default=None, description="smtp[s]://user:pass@host:port")
    smtp_from: str = "Missing Episode Relay <relay@localhost>"
    var_dir: Path = Path("var")
    public_url: str = "http://127.0.0.1:8080"
    secret_key: SecretStr | None = Field(
        default=None,
        description="signs acknowledgement links; unset = a key file in the var dir",
    )
    ack_link_days: int = Field(default=14, ge=1, description="acknowledgement links expire")
    policy_file: Path | None = None
    template_dir: Path | None = Field(
        default=None, description="a partnership's alert templates, searched before ours"
    )
    topic_prefix: str = Field(default="", description="prepended to every topic name (tests)")
    partitions: int = 3

    embedded_kafka_port: int = 9092
    embedded_smtp_port: int = 8025
    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8000
    console_host: str = "127.0.0.1"
    console_port: int = 8080
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="addresses of the reverse proxies whose X-Forwarded-Proto and -For "
        "are trusted (comma-separated, or *): behind a TLS proxy the console must see "
        "that the browser used HTTPS",
    )
    console_oidc_issuer: str | None = Field(
        default=None,
        description="single sign-on: the OpenID Connect provider's issuer URL (its "
        "/.well-known/openid-configuration is read); unset = console passwords only",
    )
    console_oidc_client_id: str | None = None
    console_oidc_client_secret: SecretStr | None = None
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
    router_port: int = 8001
    notifier_port: int = 8002

    replay_on_start: bool = Field(
        default=False,
        description="republish the outbox (and ingest's log) at start: set by "
        "`relay up` after starting a fresh memory-only broker",
    )
    poll_interval_s: float = 0.5
    broker_check_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="how often a service checks that the broker kept its data (a "
        "memory-only broker that restarts loses it; the services then republish)",
    )
    log_level: str = "INFO"

    def database_url_for(self, service: ServiceName) -> str:
        own = getattr(self, f"{service}_database_url")
        url = own or self.database_url
        if url is None:
            return f"sqlite+aiosqlite:///{(self.var_dir / f'{service}.db').resolve()}"
        return async_url(url)

    def topic(self, wire: str) -> str:
        return f"{self.topic_prefix}{wire}"

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.embedded_kafka_port}"

    @property
    def smtp(self) -> str:
        return self.smtp_url or f"smtp://127.0.0.1:{self.embedded_smtp_port}"

    def listen(self, service: ServiceName) -> tuple[str, int]:
        host = self.console_host if service == "console" else self.ingest_host
        return host, getattr(self, f"{service}_port")

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"


def async_url(url: str) -> str:
    """Accept the URL an operator would write and pick the async driver for it."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url
