"""Settings from the environment, prefix ``RELAY_`` (DESIGN §3), with laptop defaults.

``RelaySettings`` holds what every service (and ``relay``, which starts them) shares:
the broker, the databases, the var dir, the secrets, the listening addresses. A service's
own settings are a subclass beside its app (``services/<service>/settings.py``) with the
same ``RELAY_`` variables as before; its ``create_app`` takes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar, Literal, Self
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from services.runtime.event_loop import EventLoopChoice

ServiceName = Literal["ingest", "router", "notifier", "console"]
SERVICES: tuple[ServiceName, ...] = ("ingest", "router", "notifier", "console")

KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]

# Secrets that may come from a file named by RELAY_<NAME>_FILE instead of RELAY_<NAME>,
# with the type the setting holds (a service's own settings add theirs).
FILE_SECRETS: dict[str, Callable[[str], Any]] = {
    "kafka_sasl_password": SecretStr,
    "secret_key": SecretStr,
    "smtp_url": str,
}
_KAFKA_TLS_FILES = ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile")


class RelaySettings(BaseSettings):
    # Errors never echo the input: it holds the secrets.
    model_config = SettingsConfigDict(
        env_prefix="RELAY_", extra="ignore", hide_input_in_errors=True
    )
    file_secrets: ClassVar[dict[str, Callable[[str], Any]]] = FILE_SECRETS

    kafka_bootstrap: str | None = Field(
        default=None, description="host:port[,host:port]; unset = the embedded broker"
    )
    kafka_security_protocol: KafkaSecurityProtocol = Field(
        default="PLAINTEXT", description="PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL"
    )
    kafka_sasl_mechanism: KafkaSaslMechanism = Field(
        default="SCRAM-SHA-512", description="with SASL_*: SCRAM-SHA-512 | SCRAM-SHA-256 | PLAIN"
    )
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="PEM file of the CAs that sign the brokers; unset = the system's"
    )
    kafka_ssl_certfile: Path | None = Field(
        default=None, description="client certificate (PEM) for mutual TLS, with its key file"
    )
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_check_hostname: bool = Field(
        default=True, description="the broker's certificate must name the host connected to"
    )
    # <secret>_file: the secret read from a file (a Kubernetes or Docker secret) instead of
    # the environment; see FILE_SECRETS.
    kafka_sasl_password_file: Path | None = None
    secret_key_file: Path | None = None
    smtp_url_file: Path | None = None
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL shared by every service; unset = SQLite files"
    )
    ingest_database_url: str | None = None
    router_database_url: str | None = None
    notifier_database_url: str | None = None
    console_database_url: str | None = None
    # A database login's password from a file (a Docker or Kubernetes secret), put into
    # the URL, which then carries none: one secret per login, shared with the database.
    database_password_file: Path | None = None
    ingest_database_password_file: Path | None = None
    router_database_password_file: Path | None = None
    notifier_database_password_file: Path | None = None
    console_database_password_file: Path | None = None
    smtp_url: str | None = Field(default=None, description="smtp[s]://user:pass@host:port")
    var_dir: Path = Path("var")
    public_url: str = "http://127.0.0.1:8080"
    secret_key: SecretStr | None = Field(
        default=None,
        description="signs acknowledgement links; unset = a key file in the var dir",
    )
    ack_link_days: int = Field(default=14, ge=1, description="acknowledgement links expire")
    policy_file: Path | None = None
    topic_prefix: str = Field(default="", description="prepended to every topic name (tests)")
    partitions: int = 3

    # The embedded broker's and sink's ports and where each service listens: shared, since
    # `relay up` starts all of them and checks their ports before it does.
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
    retention_interval_s: float = Field(
        default=6 * 3600,
        gt=0,
        description="how often each service removes data older than the policy "
        "file's [retention] allows (also: relay retention run)",
    )
    router_port: int = 8001
    notifier_port: int = 8002

    replay_on_start: bool = Field(
        default=False,
        description="republish the outbox (and ingest's log) at start: set by "
        "`relay up` after starting a fresh memory-only broker",
    )
    poll_interval_s: float = 0.5
    kafka_session_timeout_ms: int = Field(
        default=10_000,
        ge=1000,
        le=300_000,
        description="a consumer the broker has not heard from for this long leaves its "
        "group and its partitions go to the others; Tansu (the embedded broker) also "
        "holds each join of a group for half of it, waiting for more members",
    )
    event_loop: EventLoopChoice = Field(
        default="auto",
        description="the event loop a service runs on: uvloop where installed (auto), "
        "or asyncio's own",
    )
    consumer_batch: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="most messages a consumer handles in one database transaction",
    )
    broker_check_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="how often a service checks that the broker kept its data (a "
        "memory-only broker that restarts loses it; the services then republish)",
    )
    log_level: str = "INFO"

    @classmethod
    def of(cls, settings: RelaySettings, **own: Any) -> Self:
        """``settings`` as this class: itself when it is one and ``own`` is empty, else
        its shared values with this class's own from ``own``, the environment or their
        defaults (a test's shared settings handed to a service's ``create_app``)."""
        if isinstance(settings, cls) and not own:
            return settings
        shared = {name: getattr(settings, name) for name in type(settings).model_fields}
        return cls(**{**shared, **own})

    def database_url_for(self, service: ServiceName) -> str:
        own = getattr(self, f"{service}_database_url")
        url = own or self.database_url
        if url is None:
            return f"sqlite+aiosqlite:///{(self.var_dir / f'{service}.db').resolve()}"
        setting = f"{service}_database_password_file"
        password_file = getattr(self, setting)
        if password_file is None:
            setting, password_file = "database_password_file", self.database_password_file
        if password_file is not None:
            url = with_password(url, read_secret_file(password_file, env_name(setting)))
        return async_url(url)

    def topic(self, wire: str) -> str:
        return f"{self.topic_prefix}{wire}"

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.embedded_kafka_port}"

    @property
    def kafka_heartbeat_interval_ms(self) -> int:
        # At most 3 s apart as by aiokafka's default, and three to a session.
        return min(3000, self.kafka_session_timeout_ms // 3)

    @property
    def smtp(self) -> str:
        return self.smtp_url or f"smtp://127.0.0.1:{self.embedded_smtp_port}"

    def listen(self, service: ServiceName) -> tuple[str, int]:
        host = self.console_host if service == "console" else self.ingest_host
        return host, getattr(self, f"{service}_port")

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _secrets_and_transport(self) -> Self:
        self._read_secret_files()
        self._check_kafka_security()
        for service in SERVICES:  # a missing password file stops the start, naming it
            self.database_url_for(service)
        return self

    def _read_secret_files(self) -> None:
        for name, kind in self.file_secrets.items():
            path = getattr(self, f"{name}_file")
            if path is None:
                continue
            value = kind(read_secret_file(path, env_name(f"{name}_file")))
            given = getattr(self, name)
            # A parent process (``relay up``) may pass on the value it read as well.
            if given is not None and given != value:
                raise ValueError(
                    f"{env_name(name)} and {env_name(f'{name}_file')} are both set: use one"
                )
            setattr(self, name, value)

    def _check_kafka_security(self) -> None:
        protocol = self.kafka_security_protocol
        using = f"RELAY_KAFKA_SECURITY_PROTOCOL={protocol}"
        if protocol != "PLAINTEXT" and self.kafka_bootstrap is None:
            raise ValueError(
                f"{using} needs RELAY_KAFKA_BOOTSTRAP: the embedded broker speaks PLAINTEXT only"
            )
        if protocol.startswith("SASL_"):
            if not self.kafka_sasl_username:
                raise ValueError(f"{using} needs RELAY_KAFKA_SASL_USERNAME")
            if self.kafka_sasl_password is None or not self.kafka_sasl_password.get_secret_value():
                raise ValueError(
                    f"{using} needs RELAY_KAFKA_SASL_PASSWORD or RELAY_KAFKA_SASL_PASSWORD_FILE"
                )
        else:
            for name in ("kafka_sasl_username", "kafka_sasl_password"):
                if getattr(self, name):  # an empty variable counts as unset
                    raise ValueError(
                        f"{env_name(name)} is set but {using} does not authenticate: "
                        "use SASL_SSL (or SASL_PLAINTEXT)"
                    )
        for name in _KAFKA_TLS_FILES:
            path = getattr(self, name)
            if path is None:
                continue
            if protocol not in ("SSL", "SASL_SSL"):
                raise ValueError(
                    f"{env_name(name)} is set but {using} does not use TLS: use SSL or SASL_SSL"
                )
            read_secret_file(path, env_name(name))
        cert, key = self.kafka_ssl_certfile, self.kafka_ssl_keyfile
        if key is not None and cert is None:
            raise ValueError(
                "RELAY_KAFKA_SSL_KEYFILE is set without RELAY_KAFKA_SSL_CERTFILE: "
                "a client key needs its certificate"
            )
        if cert is not None and key is None and "PRIVATE KEY" not in cert.read_text("utf-8"):
            raise ValueError(
                "RELAY_KAFKA_SSL_CERTFILE holds no private key: set RELAY_KAFKA_SSL_KEYFILE"
            )

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        # SecretStr fields show as '**********'; URLs may carry a password of their own.
        for name, value in super().__repr_args__():
            yield name, mask_url_password(value) if isinstance(value, str) else value


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


def env_name(field: str) -> str:
    return f"{RelaySettings.model_config.get('env_prefix', '')}{field}".upper()


def read_secret_file(path: Path, setting: str) -> str:
    """A secret mounted as a file (Kubernetes, Docker), its trailing newline dropped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{setting}: cannot read {path} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{setting}: {path} is not UTF-8 text") from None
    value = text.rstrip("\r\n")
    if not value:
        raise ValueError(f"{setting}: {path} is empty")
    return value


def with_password(url: str, password: str) -> str:
    """``url`` with ``password`` for its user (percent-encoded as a URL needs); refused
    when the URL carries a password of its own."""
    parsed = make_url(url)
    if parsed.password:
        raise ValueError(
            "a database URL with a password and a password file: give the password once"
        )
    return parsed.set(password=password).render_as_string(hide_password=False)


def mask_url_password(url: str) -> str:
    """The URL with its password, if any, shown as ``***``: for logs and reprs."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL we can read: show none of it if it might be one
        return "<URL hidden>" if "://" in url else url
    if not password:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
